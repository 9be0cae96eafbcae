"""The client side of the E2 interface, as every slot-loop component sees it.

What flows: the xApp sends one SubscriptionRequest and gets the node's ack;
then the node streams one ``pb.Indication`` per slot, and the xApp answers
each with one ControlRequest and gets its ControlAck. The network clients
read the stream on their own receive thread into a bounded drop-oldest queue
(stale CSI is worthless), so the slot loop's decision work never blocks the
socket; their ``dropped`` attribute counts the indications evicted unread.
"""

from __future__ import annotations

from typing import Protocol

from rrm.core.errors import RrmError
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.messages import AckMsg, ControlMsg, SubscribedMsg, SubscribeMsg

QUEUE_SLOTS = 64  # indications buffered per client before the oldest is dropped


class TransportError(RrmError):
    """The E2 node is unreachable, went away, or did not answer in time."""


class E2Client(Protocol):
    """A connection to one E2 node service."""

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Open the subscription and return the node's ack.

        Raises :class:`rrm.core.errors.ProtocolMismatch` when the node refuses the
        protocol version, :class:`TransportError` on any other refusal or when
        the node is unreachable within the client's connect timeout.
        """
        ...

    def next_indication(self, timeout_s: float) -> pb.Indication | None:
        """Oldest queued indication, None after ``timeout_s`` s without one.

        Raises :class:`TransportError` once the stream broke (node gone) and
        the queue is drained.
        """
        ...

    def control(self, request: ControlMsg, timeout_s: float) -> AckMsg:
        """Send one control request and wait up to ``timeout_s`` s for its ack.

        Raises :class:`TransportError` when the node is unreachable, refuses
        the message at the transport level (e.g. too large) or does not answer.
        """
        ...

    def close(self) -> None:
        """Stop the receive thread and release the connection (idempotent)."""
        ...
