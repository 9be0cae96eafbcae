"""What a peer may make large, bounded before anything is decoded or queued.

An indication's tensors declare their shapes; the sizes an xApp accepts
(B access points, K links or UEs, M antennas) are known in advance, and so
is the largest wire size such an indication can have. The receive thread
screens every indication against :class:`SizeLimits` as soon as it is
parsed: one that declares more than the limits (or is larger in bytes than
any indication within them could be) loses its CSI payload at once, and is
queued as a header with a refusal (``UNSUPPORTED_INPUT``). So a peer sending
64 MiB messages costs the xApp one message at a time, not a queue of them,
and the decoder never allocates for a shape the guards would refuse anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.messages import Cause, Refusal

# headroom for the header, scalars and protobuf framing of a legal indication, bytes
FRAMING_BYTES = 64 << 10


@dataclass(frozen=True)
class SizeLimits:
    """Largest indication the xApp accepts (``guards.max_*`` in the config).

    Attributes:
        max_links: K, links (d2d, ergodic) or UEs (cell-free).
        max_aps: B, cell-free access points.
        max_antennas: M, antennas per access point.
        max_cellfree_entries: B * K * M, the size of the channel tensor ``h``
            (what the cell-free fallback's cost grows with).
    """

    max_links: int = 400
    max_aps: int = 64
    max_antennas: int = 16
    max_cellfree_entries: int = 1 << 16

    def max_indication_bytes(self) -> int:
        """Largest wire size of an indication within the limits, bytes.

        Ergodic CSI is the largest interference payload: gains and large-scale
        gains [K, K] float64 plus a bool mask's worth; cell-free: ``h`` [B, K, M]
        complex128 plus per-AP and per-UE vectors.
        """
        k = self.max_links
        interference = 3 * 8 * k * k
        cellfree = 16 * self.max_cellfree_entries + 8 * (2 * self.max_aps + k)
        return max(interference, cellfree) + FRAMING_BYTES


def declared_sizes(message: pb.Indication) -> dict[str, int]:
    """B, K, M as the indication's tensor shapes declare them (no data is read).

    Shapes with the wrong number of dimensions declare nothing here: the
    decoder refuses them with its own reason.
    """
    kind = message.WhichOneof("csi")
    if kind in ("d2d", "ergodic"):
        gains = getattr(message, kind).gains.shape
        return {"K": int(gains[0])} if len(gains) >= 1 else {}
    if kind == "cellfree":
        h = message.cellfree.h.shape
        return dict(zip(("B", "K", "M"), (int(s) for s in h), strict=False)) if len(h) == 3 else {}
    return {}


def screen(message: pb.Indication, nbytes: int, limits: SizeLimits) -> Refusal | None:
    """The refusal an indication gets before decoding, or None when it may be decoded.

    Args:
        message: the parsed indication (its tensors' data is not read).
        nbytes: its wire size, bytes.
        limits: the accepted sizes.
    """
    sizes = declared_sizes(message)
    bounds = {"K": limits.max_links, "B": limits.max_aps, "M": limits.max_antennas}
    for name, value in sizes.items():
        if value > bounds[name]:
            return Refusal(Cause.UNSUPPORTED_INPUT,
                           f"{name}={value} above the supported {bounds[name]}")
    if len(sizes) == 3 and sizes["B"] * sizes["K"] * sizes["M"] > limits.max_cellfree_entries:
        return Refusal(Cause.UNSUPPORTED_INPUT,
                       f"B*K*M={sizes['B'] * sizes['K'] * sizes['M']} above the supported "
                       f"{limits.max_cellfree_entries}")
    if nbytes > limits.max_indication_bytes():
        return Refusal(Cause.UNSUPPORTED_INPUT, f"{nbytes} bytes above the "
                       f"{limits.max_indication_bytes()} an indication within the limits has")
    return None


def strip(message: pb.Indication) -> pb.Indication:
    """The header of ``message`` alone (its CSI payload released)."""
    return pb.Indication(header=message.header)
