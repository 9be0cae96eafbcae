"""The node's side of the codec, serialized directly: the same bytes, fewer calls.

A simulator node sends one indication and one ack per slot and decodes one
control, 8 nodes x 100 slots a second in a demo. Building a protobuf message
field by field and then serializing it costs more than the message itself
(issue #18 item 5), so the node's usual messages are written here straight
to wire bytes:

* :class:`IndicationWriter`: a d2d indication (no CSI mask, no weights) is its
  header, the gains tensor and a tail (noise, budgets, QoS) that only changes
  with the topology, kept per content;
* :func:`decode_control_lean`: a power control's domain view without the
  generic tensor decoder.

Each returns exactly what the codec gives (``encode_indication(ind)
.SerializeToString()``, ``decode_control(m)``; tested byte for byte and field
for field) and defers to it for anything else (other scenarios, malformed
tensors), so refusals and their messages are the codec's. Acks are left to
the codec: written directly they cost more than ``encode_ack`` (measured, 10
vs 5.5 us at K = 50), the message being small. Fields are written in field-number order,
as protobuf serializes them; a proto3 scalar at its default is omitted (a
double at ``-0.0`` is not its default: its bits are not zero).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_control, encode_indication
from rrm.core.wire.messages import ControlMsg, Header, IndicationMsg
from rrm.core.wire.tensor import MAX_ELEMENTS

_LITTLE = sys.byteorder == "little"  # the wire is little-endian: native arrays go as they are
_DOUBLE = struct.Struct("<d")
_UINT64 = (1 << 64) - 1
_FLOAT64 = pb.DTYPE_FLOAT64
TAILS_KEPT = 64  # d2d tails remembered (one per topology and QoS a node has served lately)


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; a negative int32/int64 as its 64-bit two's complement."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if 0 <= value < 0x200000:  # the lengths of a slot's tensors up to K = 500: no loop
        if value < 0x4000:
            return bytes(((value & 0x7F) | 0x80, value >> 7))
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    value &= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = tuple(bytes((i,)) for i in range(0x80))


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + varint(len(payload)) + payload


def _double(tag: bytes, value: float) -> bytes:
    """A proto3 double field; nothing when the value is +0.0 (its default bits)."""
    packed = _DOUBLE.pack(value)
    return b"" if packed == b"\0" * 8 else tag + packed


def _float64_tensor(shape: tuple[int, ...], data: bytes) -> list[bytes]:
    """``Tensor(shape, DTYPE_FLOAT64, data)`` serialized (what ``to_tensor`` builds), in
    pieces to join: the payload is copied once, where the whole message is joined."""
    head = _TENSOR_HEADS.get(shape)
    if head is None:
        dims = b"".join(varint(d) for d in shape)
        head = (_field(b"\x0a", dims) if shape else b"") + b"\x10" + varint(_FLOAT64)
        if len(_TENSOR_HEADS) >= TAILS_KEPT:
            _TENSOR_HEADS.clear()
        _TENSOR_HEADS[shape] = head
    return [head, b"\x1a", varint(len(data)), data] if data else [head]


def _tensor_field(tag: bytes, pieces: list[bytes]) -> list[bytes]:
    """A tensor field's pieces: tag, length, the tensor's pieces."""
    return [tag, varint(sum(map(len, pieces))), *pieces]


_TENSOR_HEADS: dict[tuple[int, ...], bytes] = {}  # shape -> a float64 tensor's shape and dtype


def header_bytes(h: Header, channel_id: str | None = None) -> bytes:
    """``h`` serialized as a wire ``Header`` (``channel_id`` in place of its own, if given)."""
    return pb.Header(protocol_version=h.protocol_version, node_id=h.node_id,
                     channel_id=h.channel_id if channel_id is None else channel_id,
                     slot=h.slot, sequence_number=h.sequence_number,
                     timestamp_ns=h.timestamp_ns, deadline_ns=h.deadline_ns).SerializeToString()


class IndicationWriter:
    """Serializes a node's indications; remembers the d2d tails it has written.

    One per node (not thread-safe; the slot clock is its only caller).
    """

    def __init__(self) -> None:
        self._tails: dict[tuple[bytes, bytes, bytes, bytes], bytes] = {}

    def __call__(self, ind: IndicationMsg, channel_id: str | None = None) -> bytes:
        """``encode_indication(ind).SerializeToString()``, with ``channel_id`` stamped when given.

        Args:
            ind: the indication; d2d ``[K, K]`` float64 gains without CSI mask or
                weights take the direct path, anything else the codec's.
            channel_id: the header's channel id instead of ``ind.header.channel_id``.
        """
        s = ind.state
        if not (_LITTLE and ind.scenario == "d2d" and isinstance(s, InterferenceState)
                and s.csi_mask is None and s.weights is None):
            return self._generic(ind, channel_id)
        gains, pmax, noise_w = s.gains, s.pmax_w, s.noise_w
        # per-link float64 budgets: what encode_indication sends (pmax_per_link is a view)
        if not (isinstance(gains, np.ndarray) and gains.dtype == np.float64 and gains.ndim == 2
                and isinstance(pmax, np.ndarray) and pmax.dtype == np.float64
                and pmax.shape == gains.shape[:1] and isinstance(noise_w, float)):
            return self._generic(ind, channel_id)
        pmax_data = pmax.tobytes()  # C order, whatever the array's layout
        # by bits, not by value: -0.0 == 0.0 but only +0.0 is left out; NaN != NaN
        key = (pmax_data, _DOUBLE.pack(noise_w), _DOUBLE.pack(ind.qos.r_min),
               _DOUBLE.pack(ind.qos.alpha))
        tail = self._tails.get(key)
        if tail is None:
            tail = self._tail(key, pmax, noise_w, ind.qos.r_min, ind.qos.alpha)
        tensor = _tensor_field(b"\x0a", _float64_tensor(gains.shape, gains.tobytes()))
        header = header_bytes(ind.header, channel_id)
        csi_size = sum(map(len, tensor)) + len(tail)
        return b"".join([b"\x0a", varint(len(header)), header, b"\x12", varint(csi_size),
                         *tensor, tail])

    def _tail(self, key: tuple[bytes, bytes, bytes, bytes], pmax: np.ndarray, noise_w: float,
              r_min: float, alpha: float) -> bytes:
        """D2DCsi fields 2-7 after the gains: noise, budgets, QoS (no mask, no weights)."""
        budgets = b"".join(_tensor_field(b"\x1a", _float64_tensor(pmax.shape, key[0])))
        tail = (_double(b"\x11", noise_w) + budgets
                + _double(b"\x31", r_min) + _double(b"\x39", alpha))
        if len(self._tails) >= TAILS_KEPT:
            self._tails.clear()
        self._tails[key] = tail
        return tail

    @staticmethod
    def _generic(ind: IndicationMsg, channel_id: str | None) -> bytes:
        m = encode_indication(ind)
        if channel_id is not None:
            m.header.channel_id = channel_id
        return m.SerializeToString()


def decode_control_lean(m: pb.ControlRequest) -> ControlMsg:
    """``decode_control(m)``: a float64 ``[K]`` power control by a shorter path.

    The node admits the powers against its own CSI afterwards; what is checked
    here is only what turning the tensor into an array needs (dtype, rank,
    size). Anything else (refusals, beamformers, malformed tensors, no header)
    goes through :func:`decode_control`, with its refusals.
    """
    if not _LITTLE or m.WhichOneof("decision") != "power" or not m.HasField("header"):
        return decode_control(m)
    t = m.power.power_w
    shape = t.shape
    if t.dtype != _FLOAT64 or len(shape) != 1 or shape[0] > MAX_ELEMENTS:
        return decode_control(m)
    data = t.data
    if len(data) != 8 * shape[0]:
        return decode_control(m)
    power = np.frombuffer(data, dtype=np.float64).copy()  # writable, owned: as from_tensor
    h = m.header
    header = Header(h.node_id, h.slot, h.sequence_number, h.timestamp_ns, h.deadline_ns,
                    h.channel_id, h.protocol_version)
    return ControlMsg(header, PowerAllocation(power), m.policy, m.model_version,
                      m.fallback_reason, m.decision_latency_ns)
