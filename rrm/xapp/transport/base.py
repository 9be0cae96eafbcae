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
"""

from __future__ import annotations

import time
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

log = structlog.get_logger("rrm.xapp.transport")
QUEUE_SLOTS = 64  # indications buffered per client before the oldest is dropped


class TransportError(RrmError):
    """The E2 node is unreachable, went away, or did not answer in time."""


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


def receive(message: pb.Indication, wire: bytes | None = None) -> Received:
    """Check the protocol version and decode ``message``, once, for every transport."""
    received_ns = time.time_ns()
    t0 = time.perf_counter()
    ind, refusal = _decode(message)
    return Received(header_from_pb(message.header), message, ind, refusal, received_ns,
                    time.perf_counter() - t0, wire)


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
    try:
        return encode_control(request).SerializeToString()
    except InvalidInput as err:
        raise TransportError(f"control could not be encoded: {err}") from None


def acked(sent: bytes, received: bytes) -> Acked:
    """The ack read from ``received`` (ControlAck bytes) answering ``sent``;
    :class:`TransportError` when they are not an ack."""
    try:
        return Acked(decode_ack(parse(pb.ControlAck, received)), sent, received)
    except InvalidInput as err:
        raise TransportError(f"control ack unreadable: {err}") from None


def opened(reply: SubscribedMsg | SubscriptionFailed) -> SubscribedMsg:
    """The node's ack; its refusal as :class:`ProtocolMismatch` (protocol version)
    or :class:`TransportError` (any other cause)."""
    if isinstance(reply, SubscribedMsg):
        return reply
    if reply.cause == Cause.UNSUPPORTED_VERSION:
        raise ProtocolMismatch(reply.detail)
    raise TransportError(f"subscription refused ({reply.cause.name}): {reply.detail}")


class E2Client(Protocol):
    """A connection to one E2 node service."""

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

    def close(self) -> None:
        """Stop the receive thread and release the connection (idempotent)."""
        ...
