"""Controls in flight: sent without waiting for their acks, acks matched as they come.

A :class:`ControlPipe` sends each control at once (the client's
``send_control``) and keeps it, keyed by ``(channel_id, node_id,
sequence_number)``, until its ack arrives (``poll_acks``) or its ack
deadline (``ack_timeout_s`` after sending) passes: then the ack counts as
lost (``ack_lost``) and the control leaves the table, so a lost ack never
holds the loop. Each control is sent once, whatever happens to its ack, so
every indication still gets exactly one answer.

At most ``max_inflight`` controls per node wait for their acks: sending one
more first waits for that node's oldest ack, at most until that ack's
deadline (then it is lost and counted). ``max_inflight = 0``, or a client
without ``send_control`` / ``poll_acks`` (test doubles of
:class:`rrm.xapp.transport.base.E2Client`), sends each control and awaits its
ack inline, as before #18.

What comes back for each control is a :class:`Settled`: the ack, or the
cause it was counted under (``ack_lost``, and the causes of
:class:`rrm.xapp.transport.base.AckRejected`). An ack that answers no control
in flight (one that came after its control was counted lost, or a stray) is
settled with no control and the cause ``ack_unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import structlog

from rrm.core.wire.messages import AckMsg, ControlMsg
from rrm.xapp.transport.base import Acked, AckRejected, E2Client, acked

log = structlog.get_logger("rrm.xapp.inflight")
T = TypeVar("T")
AckKey = tuple[str, str, int]  # (channel_id, node_id, sequence_number)
# as before #18: how long a control's ack may take before it counts as lost, s
ACK_TIMEOUT_S = 1.0
# controls per node awaiting their acks; a node answers within a slot (lockstep: the
# next indication waits for the control, not its ack), so a few cover any jitter
MAX_INFLIGHT_CONTROLS = 4


@dataclass(frozen=True)
class AckEvent:
    """What a pipelining client got back for one control.

    Attributes:
        key: the control it answers (from the request when the transport ties the
            two, e.g. a gRPC call; else from the ack's header); None when the ack's
            header could not be read.
        received: the ControlAck bytes; None when the control failed (``error``).
        error: why no ack came (e.g. the call's deadline passed); '' with an ack.
        decoded: the ack ``received`` decodes to, when the client has it without
            decoding (in-process: the node's own); None: decoded from ``received``.
    """

    key: AckKey | None
    received: bytes | None
    error: str = ""
    decoded: AckMsg | None = None


class PipeliningClient(Protocol):
    """The two methods a client adds to :class:`E2Client` to pipeline controls."""

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        """Send ``request`` without waiting for its ack (which ``poll_acks`` returns
        later); the bytes sent. :class:`TransportError` when it cannot be sent."""
        ...

    def poll_acks(self, timeout_s: float) -> list[AckEvent]:
        """The acks (and failed controls) that came since the last call, waiting up to
        ``timeout_s`` s for the first when none is there."""
        ...


@dataclass(frozen=True)
class Pending(Generic[T]):
    """A control awaiting its ack: the request, its bytes, its ack deadline
    (monotonic s) and the caller's context (the loop's indication and decision)."""

    request: ControlMsg
    sent: bytes
    due: float
    context: T


@dataclass(frozen=True)
class Settled(Generic[T]):
    """The end of one control's wait: its ack, or the cause it is counted under.

    ``pending`` is None for an ack that answers no control in flight.
    """

    pending: Pending[T] | None
    acked: Acked | None
    cause: str = ""


def key_of(request: ControlMsg) -> AckKey:
    """The key a control's ack is matched by."""
    h = request.header
    return (h.channel_id, h.node_id, h.sequence_number)


class ControlPipe(Generic[T]):
    """Sends controls and settles their acks (see the module docstring).

    Args:
        client: the E2 client; pipelined when it has ``send_control`` and ``poll_acks``.
        max_inflight: controls per node awaiting acks (0: each ack awaited inline).
        ack_timeout_s: how long an ack may take before it counts as lost, s.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, client: E2Client, max_inflight: int = MAX_INFLIGHT_CONTROLS,
                 ack_timeout_s: float = ACK_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.ack_timeout_s, self.clock = client, ack_timeout_s, clock
        self.max_inflight = max(0, max_inflight)
        pipelining = hasattr(client, "send_control") and hasattr(client, "poll_acks")
        self.pipelined = pipelining and self.max_inflight > 0
        self._pending: dict[AckKey, Pending[T]] = {}  # insertion order: oldest first

    def __len__(self) -> int:
        return len(self._pending)

    def inflight(self, node_id: str) -> int:
        """Controls to ``node_id`` awaiting their acks."""
        return sum(1 for k in self._pending if k[1] == node_id)

    def send(self, request: ControlMsg, context: T) -> list[Settled[T]]:
        """Send ``request``; what settled meanwhile (inline: its own ack, at once).

        Raises :class:`rrm.xapp.transport.base.TransportError` when the control
        cannot be sent (inline: also when its ack does not come in time).
        """
        if not self.pipelined:
            return [self._inline(request, context)]
        settled: list[Settled[T]] = []
        node = request.header.node_id
        while self.inflight(node) >= self.max_inflight:
            oldest = next(p for k, p in self._pending.items() if k[1] == node)
            settled += self.collect(max(oldest.due - self.clock(), 0.0))
        client: PipeliningClient = self.client  # type: ignore[assignment]
        sent = client.send_control(request, self.ack_timeout_s)
        self._pending[key_of(request)] = Pending(request, sent, self.clock()
                                                 + self.ack_timeout_s, context)
        return settled + self.collect(0.0)  # what came meanwhile (in-process: its ack)

    def _inline(self, request: ControlMsg, context: T) -> Settled[T]:
        pending = Pending(request, b"", 0.0, context)
        try:
            return Settled(pending, self.client.control(request, self.ack_timeout_s))
        except AckRejected as err:
            return Settled(Pending(request, err.sent, 0.0, context), None, err.cause)

    def collect(self, wait_s: float = 0.0) -> list[Settled[T]]:
        """Acks that came (waiting up to ``wait_s`` s for the first), then the controls
        whose ack deadline passed, as ``ack_lost``."""
        if not self.pipelined or (not self._pending and wait_s <= 0.0):
            return []
        client: PipeliningClient = self.client  # type: ignore[assignment]
        settled = [s for e in client.poll_acks(wait_s) if (s := self._match(e)) is not None]
        now = self.clock()
        for key in [k for k, p in self._pending.items() if p.due <= now]:
            settled.append(Settled(self._pending.pop(key), None, "ack_lost"))
        return settled

    def drain(self, wait: bool = True) -> list[Settled[T]]:
        """Settle every control in flight: wait for their acks until their deadlines
        (``wait``) or take what came and count the rest lost (the stream broke)."""
        settled: list[Settled[T]] = []
        while self._pending and wait:
            oldest = next(iter(self._pending.values()))
            settled += self.collect(max(oldest.due - self.clock(), 0.0))
        settled += self.collect(0.0)
        settled += [Settled(p, None, "ack_lost") for p in self._pending.values()]
        self._pending.clear()
        return settled

    def _match(self, event: AckEvent) -> Settled[T] | None:
        """The control ``event`` answers, settled; None for the failure of a control
        already counted lost (its own timeout racing ours)."""
        if event.key is None:
            return Settled(None, None, "ack_undecodable")
        pending = self._pending.pop(event.key, None)
        if pending is None:
            pending = self._other_channel(event.key)
        if pending is None:
            return None if event.received is None else Settled(None, None, "ack_unmatched")
        if event.received is None:
            log.warning("ack_lost", node=event.key[1][:64], seq=event.key[2],
                        error=event.error[:200])
            return Settled(pending, None, "ack_lost")
        try:
            return Settled(pending, acked(pending.sent, event.received, pending.request,
                                          decoded=event.decoded))
        except AckRejected as err:
            return Settled(pending, None, err.cause)

    def _other_channel(self, key: AckKey) -> Pending[T] | None:
        """A control to the same node and sequence number on another channel (its ack
        is then rejected as ``ack_wrong_channel``), taken out of the table."""
        for k in self._pending:
            if k[1:] == key[1:]:
                return self._pending.pop(k)
        return None
