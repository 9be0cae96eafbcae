"""An in-process E2 client: the xApp calls a node service directly, no sockets.

Used to measure what the transports cost (the latency benchmark compares
in-process, gRPC and ZeroMQ side by side) and by tests that exercise the
slot loop without networking. Messages still go through the codec as on the
wire, so behaviour matches: an indication is decoded from the message the
node encoded (with the bytes it serialized for its queue), a control is
encoded, serialized (the bytes recorded) and decoded by the node from its
encoding, and the node's ack is encoded and serialized (the bytes recorded)
and handed to the loop as the node made it, which is what decoding those
bytes gives (:func:`rrm.xapp.transport.base.acked` still checks it). Only
parsing bytes back into the message they were serialized from is skipped.
"""

from __future__ import annotations

import threading
from collections import Counter

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_control,
    decode_subscribe,
    decode_subscription_reply,
    encode_ack,
    encode_subscribe,
    encode_subscription_event,
    parse,
)
from rrm.core.wire.messages import (
    AckMsg,
    ControlMsg,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
)
from rrm.sim.e2.service import IndicationFeed, NodeService
from rrm.sim.feed import QueueFeed
from rrm.xapp.transport.base import (
    Acked,
    Received,
    TransportError,
    acked,
    arrival,
    encoded_control,
    opened,
    receive,
)
from rrm.xapp.transport.inflight import AckEvent, key_of
from rrm.xapp.transport.screen import SizeLimits


class InProcessClient:
    """Implements :class:`rrm.xapp.transport.base.E2Client` over a local NodeService."""

    def __init__(self, service: NodeService, limits: SizeLimits | None = None) -> None:
        self.service = service
        self.limits = limits or SizeLimits()
        self.feed: IndicationFeed | None = None
        self._acks: list[AckEvent] = []  # acks of pipelined controls, not yet polled
        self.abandon: threading.Event | None = None  # nothing waits here: unused

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Subscribe through the codec, as a remote client would."""
        wire = parse(pb.SubscriptionRequest, encode_subscribe(request).SerializeToString())
        result = self.service.subscribe(decode_subscribe(wire))
        if isinstance(result, SubscriptionFailed):  # opened() raises the refusal
            return opened(decode_subscription_reply(encode_subscription_event(result)), request)
        self.feed = result.feed
        return opened(decode_subscription_reply(encode_subscription_event(result.ack)), request)

    def next_indication(self, timeout_s: float) -> Received | None:
        """Next indication from the feed; TransportError once the node closed it."""
        if self.feed is None:
            raise TransportError("not subscribed")
        item = self._get_wire(self.feed, timeout_s)
        if item is None and self.feed.closed:
            raise TransportError("the node ended the subscription")
        if item is None:
            return None
        msg, wire = item
        return receive(arrival(msg, len(wire), self.limits, wire))

    @staticmethod
    def _get_wire(feed: IndicationFeed, timeout_s: float) -> tuple[pb.Indication, bytes] | None:
        """The next indication and its bytes: a :class:`rrm.sim.feed.QueueFeed` has them
        at hand; any other feed's indication is serialized here."""
        if isinstance(feed, QueueFeed):
            return feed.get_wire(timeout_s)
        msg = feed.get(timeout_s)
        return None if msg is None else (msg, msg.SerializeToString())

    def control(self, request: ControlMsg, timeout_s: float) -> Acked:
        """Hand the control to the service and return its ack (through the codec)."""
        sent, ack = self._round_trip(request)
        return acked(sent, encode_ack(ack).SerializeToString(), request, decoded=ack)

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        """Hand the control to the service; its ack is kept for :meth:`poll_acks`."""
        sent, ack = self._round_trip(request)
        self._acks.append(AckEvent(key_of(request), encode_ack(ack).SerializeToString(),
                                   decoded=ack))
        return sent

    def _round_trip(self, request: ControlMsg) -> tuple[bytes, AckMsg]:
        """The control's bytes and the node's ack of its decoded encoding."""
        encoded = encoded_control(request)
        return encoded.SerializeToString(), self.service.control(decode_control(encoded))

    def poll_acks(self, timeout_s: float) -> list[AckEvent]:
        """The acks of the controls sent since the last call (the service answers at once)."""
        acks, self._acks = self._acks, []
        return acks

    def drops(self) -> Counter[str]:
        """Nothing is queued here, so nothing is lost before the loop."""
        return Counter()

    def close(self) -> None:
        """Close the feed."""
        if self.feed is not None:
            self.feed.close()
