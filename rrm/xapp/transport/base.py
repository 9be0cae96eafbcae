"""The client side of the E2 interface, as every slot-loop component sees it.

What flows: the xApp sends one SubscriptionRequest and gets the node's ack;
then the node streams one ``pb.Indication`` per slot, and the xApp answers
each with one ControlRequest and gets its ControlAck. The network clients
read the stream on their own receive thread into a bounded drop-oldest queue
(stale CSI is worthless), so the slot loop's decision work never blocks the
socket; their ``dropped`` attribute counts the indications evicted unread.

Every client hands the loop the same things, built here once: a
:class:`Received` per indication (decoded after one protocol version check,
or the refusal that answers it), an :class:`Acked` per control (the ack and
the exact bytes sent and received), and a node's subscription refusal as an
exception (:func:`opened`).

What a peer sends is bounded and checked here once for every client
(docs/security.md, "Hostile input"): an indication is screened against the
size limits before it is queued or decoded (:mod:`rrm.xapp.transport.screen`,
:func:`arrival`); the queue is bounded by bytes as well as count; an ack
must decode and echo the control's channel, node and sequence number, else
:class:`AckRejected` names the cause; a subscription ack must echo the
request's transaction id and protocol version; every wait has a deadline
and a silent stream counts as broken (:class:`SilenceWatch`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from rrm.core.errors import InvalidInput, ProtocolMismatch, RrmError
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_ack, decode_indication, encode_control, header_from_pb, parse
from rrm.core.wire.messages import (
    PROTOCOL_VERSION,
    AckMsg,
    Cause,
    ControlMsg,
    Header,
    IndicationMsg,
    Refusal,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
)
from rrm.xapp.transport.screen import SizeLimits, screen, strip

log = structlog.get_logger("rrm.xapp.transport")
QUEUE_SLOTS = 64  # indications buffered per client before the oldest is dropped
# bytes of indications buffered per client: two messages at the 64 MiB wire limit, or
# dozens of the largest indication within the default size limits (~4 MiB)
QUEUE_BYTES = 128 << 20
SUBSCRIBE_TIMEOUT_S = 5.0  # connect + the node's subscription reply, s
SILENCE_S = 3.0  # at least this long without an indication means the node is gone, s
SILENCE_SLOTS = 20  # ... or this many slot periods, whichever is longer


class TransportError(RrmError):
    """The E2 node is unreachable, went away, or did not answer in time."""


class Abandoned(TransportError):
    """A connect or subscribe wait given up because the xApp is stopping (its
    ``abandon`` event was set): nothing was half-done, the session just ends."""


WAIT_STEP_S = 0.1  # a connect/subscribe wait looks at its abandon event this often, s


def wait_steps(timeout_s: float, abandon: threading.Event | None) -> Iterator[float]:
    """Slices (s, at most :data:`WAIT_STEP_S`) of a ``timeout_s`` wait; raises
    :class:`Abandoned` as soon as ``abandon`` is set. Ends when the time is up."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if abandon is not None and abandon.is_set():
            raise Abandoned("stopping: the connect/subscribe wait was abandoned")
        yield min(left, WAIT_STEP_S)
    if abandon is not None and abandon.is_set():
        raise Abandoned("stopping: the connect/subscribe wait was abandoned")


class AckRejected(TransportError):
    """A control's ack that cannot be decoded or does not answer that control.

    The control was sent; the ack is dropped and counted under ``cause``
    (``ack_undecodable``, ``ack_wrong_channel``, ``ack_wrong_node``,
    ``ack_wrong_seq``); the stream goes on.
    """

    def __init__(self, cause: str, detail: str, sent: bytes = b"") -> None:
        super().__init__(f"{cause}: {detail}"[:300])
        self.cause = cause
        self.sent = sent


@dataclass(frozen=True)
class Arrival:
    """An indication as the receive thread queues it: screened, not yet decoded.

    Attributes:
        message: the parsed indication (its CSI stripped when ``refusal`` is set).
        nbytes: its wire size, bytes (what the queue's byte bound counts).
        refusal: the screen's answer when it declared more than the size limits.
        wire: the bytes received, when the transport has them as such.
    """

    message: pb.Indication
    nbytes: int
    refusal: Refusal | None = None
    wire: bytes | None = None


def arrival(message: pb.Indication, nbytes: int, limits: SizeLimits,
            wire: bytes | None = None) -> Arrival:
    """Screen a parsed indication for the queue (:func:`rrm.xapp.transport.screen.screen`)."""
    refusal = screen(message, nbytes, limits)
    if refusal is None:
        return Arrival(message, nbytes, None, wire)
    log.warning("indication_oversized", node=message.header.node_id[:64],
                detail=refusal.detail)
    small = strip(message)
    return Arrival(small, small.ByteSize(), refusal, None)


class SilenceWatch:
    """How long a subscription may stay silent before it counts as broken.

    ``max(SILENCE_S, SILENCE_SLOTS x the longest slot period in the ack)``;
    :meth:`heard` on every indication, :meth:`check` when none came.
    """

    def __init__(self) -> None:
        self.silence_s = SILENCE_S
        self.last_heard = time.monotonic()

    def start(self, ack: SubscribedMsg) -> None:
        """A subscription opened: its slot period sets the allowed silence."""
        slot_s = max((n.slot_period_ms for n in ack.nodes), default=0) / 1000.0
        self.silence_s = max(SILENCE_S, SILENCE_SLOTS * slot_s)
        self.last_heard = time.monotonic()

    def heard(self) -> None:
        """An indication arrived."""
        self.last_heard = time.monotonic()

    def check(self) -> None:
        """:class:`TransportError` once silent for longer than allowed."""
        silent_s = time.monotonic() - self.last_heard
        if silent_s > self.silence_s:
            raise TransportError(f"no indication for {silent_s:.1f} s: node silent or gone")


@dataclass(frozen=True)
class Received:
    """One indication as the slot loop gets it, whatever the transport.

    Attributes:
        header: its header (fields the sender left out read as protobuf defaults).
        message: the wire message as parsed.
        indication: the validated domain view; None when refused.
        refusal: the answer instead of a decision (unsupported protocol version,
            invalid message); None when ``indication`` is set.
        received_ns: wall-clock time the transport handed it over, ns.
        decode_s: time the version check and decoding took, s.
        wire: the bytes received, when the transport has them as such.
    """

    header: Header
    message: pb.Indication
    indication: IndicationMsg | None
    refusal: Refusal | None
    received_ns: int
    decode_s: float
    wire: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The indication's wire bytes (serialised only when asked: e.g. to record them)."""
        return self.wire if self.wire is not None else self.message.SerializeToString()


@dataclass(frozen=True)
class Acked:
    """A control's acknowledgement, with both messages' wire bytes (as recorded).

    Attributes:
        ack: the node's acknowledgement.
        sent: the ControlRequest bytes sent.
        received: the ControlAck bytes received.
    """

    ack: AckMsg
    sent: bytes
    received: bytes


def receive(message: pb.Indication | Arrival, wire: bytes | None = None) -> Received:
    """Check the protocol version and decode ``message``, once, for every transport.

    An :class:`Arrival` the screen refused is answered with that refusal,
    never decoded.
    """
    received_ns = time.time_ns()
    t0 = time.perf_counter()
    if isinstance(message, Arrival):
        message, screened, wire = message.message, message.refusal, message.wire
    else:
        screened = None
    ind, refusal = (None, screened) if screened is not None else _decode(message)
    # the decoded indication's header is the message's (built once, by the decoder)
    header = ind.header if ind is not None else header_from_pb(message.header)
    return Received(header, message, ind, refusal, received_ns, time.perf_counter() - t0, wire)


def _decode(message: pb.Indication) -> tuple[IndicationMsg | None, Refusal | None]:
    version = message.header.protocol_version
    if version != PROTOCOL_VERSION:
        return None, Refusal(Cause.UNSUPPORTED_VERSION, f"xApp speaks protocol "
                             f"v{PROTOCOL_VERSION}, indication is v{version}")
    try:
        return decode_indication(message), None
    except InvalidInput as err:
        return None, Refusal(Cause.INVALID_MESSAGE, str(err)[:200])
    except Exception as err:  # noqa: BLE001 - a decoder bug must not end the loop
        log.exception("indication_decode_failed", node=message.header.node_id)
        return None, Refusal(Cause.INVALID_MESSAGE,
                             f"undecodable ({type(err).__name__}: {err})"[:200])


def control_bytes(request: ControlMsg) -> bytes:
    """Wire bytes of a control; :class:`TransportError` when it cannot be encoded."""
    return encoded_control(request).SerializeToString()


def encoded_control(request: ControlMsg) -> pb.ControlRequest:
    """Wire form of a control; :class:`TransportError` when it cannot be encoded."""
    try:
        return encode_control(request)
    except InvalidInput as err:
        raise TransportError(f"control could not be encoded: {err}") from None


def acked(sent: bytes, received: bytes, request: ControlMsg | None = None, *,
          decoded: AckMsg | None = None) -> Acked:
    """The ack read from ``received`` (ControlAck bytes) answering ``sent``.

    Raises :class:`AckRejected` when the bytes are not a decodable ack
    (whatever the decoder raised) or, given the ``request``, when the ack's
    header does not echo its channel id, node id and sequence number.
    ``decoded``: what ``received`` decodes to, when the caller holds it already
    (the in-process client: the node's own ack, whose bytes are its encoding);
    it is checked as a decoded one would be.
    """
    try:
        ack = decoded if decoded is not None else decode_ack(parse(pb.ControlAck, received))
    except Exception as err:  # noqa: BLE001 - no ack may end the loop, whatever is wrong
        raise AckRejected("ack_undecodable", f"{type(err).__name__}: {err}"[:200],
                          sent) from None
    if request is not None:
        want, got = request.header, ack.header
        for cause, a, b in (("ack_wrong_channel", want.channel_id, got.channel_id),
                            ("ack_wrong_node", want.node_id, got.node_id),
                            ("ack_wrong_seq", want.sequence_number, got.sequence_number)):
            if a != b:
                raise AckRejected(cause, f"expected {str(a)[:64]!r}, got {str(b)[:64]!r}", sent)
    if ack.realised and not math.isfinite(ack.utility):
        log.warning("ack_utility_non_finite", node=ack.header.node_id[:64])
    return Acked(ack, sent, received)


def opened(reply: SubscribedMsg | SubscriptionFailed,
           request: SubscribeMsg | None = None) -> SubscribedMsg:
    """The node's ack; its refusal as :class:`ProtocolMismatch` (protocol version)
    or :class:`TransportError` (any other cause).

    Given the ``request``, an ack for another transaction id is a
    :class:`TransportError` and one in another protocol version a
    :class:`ProtocolMismatch`: neither opens a subscription.
    """
    if isinstance(reply, SubscribedMsg):
        if reply.protocol_version != PROTOCOL_VERSION:
            raise ProtocolMismatch(f"xApp speaks protocol v{PROTOCOL_VERSION}, the "
                                   f"subscription ack is v{reply.protocol_version}")
        if request is not None and reply.transaction_id != request.transaction_id:
            raise TransportError(f"subscription ack for transaction "
                                 f"{reply.transaction_id[:64]!r}, not ours "
                                 f"({request.transaction_id[:64]!r})")
        return reply
    if reply.cause == Cause.UNSUPPORTED_VERSION:
        raise ProtocolMismatch(reply.detail)
    raise TransportError(f"subscription refused ({reply.cause.name}): {reply.detail}")


class E2Client(Protocol):
    """A connection to one E2 node service."""

    abandon: threading.Event | None  # once set, connect/subscribe waits raise Abandoned

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Open the subscription and return the node's ack.

        Raises :class:`rrm.core.errors.ProtocolMismatch` when the node refuses the
        protocol version, :class:`TransportError` on any other refusal or when
        the node is unreachable within the client's connect timeout.
        """
        ...

    def next_indication(self, timeout_s: float) -> Received | None:
        """Oldest queued indication (decoded, or refused), None after ``timeout_s`` s
        without one.

        Raises :class:`TransportError` once the stream broke (node gone) and
        the queue is drained.
        """
        ...

    def control(self, request: ControlMsg, timeout_s: float) -> Acked:
        """Send one control request and wait up to ``timeout_s`` s for its ack.

        Raises :class:`TransportError` when the node is unreachable, refuses
        the message at the transport level (e.g. too large) or does not answer.
        """
        ...

    def drops(self) -> Counter[str]:
        """Indications lost before the loop saw them, by cause, since the client was
        made (``queue_full``: evicted from the receive queue; ``unreadable``: not a
        protobuf message; ``superseded``: left unread when the client was closed or, over
        ZeroMQ, in a SUB socket closed by a resubscription)."""
        ...

    def close(self) -> None:
        """Stop the receive thread and release the connection (idempotent)."""
        ...
