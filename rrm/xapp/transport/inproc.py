"""An in-process E2 client: the xApp calls a node service directly, no sockets.

Used to measure what the transports cost (the latency benchmark compares
in-process, gRPC and ZeroMQ side by side) and by tests that exercise the
slot loop without networking. Messages still go through the codec exactly
as on the wire (encode -> bytes -> parse), so behaviour matches.
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
from rrm.core.wire.messages import ControlMsg, SubscribedMsg, SubscribeMsg, SubscriptionFailed
from rrm.sim.e2.service import IndicationFeed, NodeService
from rrm.xapp.transport.base import (
    Acked,
    Received,
    TransportError,
    acked,
    arrival,
    control_bytes,
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
        msg = self.feed.get(timeout_s)
        if msg is None and self.feed.closed:
            raise TransportError("the node ended the subscription")
        if msg is None:
            return None
        wire = msg.SerializeToString()
        return receive(arrival(parse(pb.Indication, wire), len(wire), self.limits, wire))

    def control(self, request: ControlMsg, timeout_s: float) -> Acked:
        """Hand the control to the service and return its ack (through the codec)."""
        sent = control_bytes(request)
        ack = self.service.control(decode_control(parse(pb.ControlRequest, sent)))
        return acked(sent, encode_ack(ack).SerializeToString(), request)

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        """Hand the control to the service; its ack is kept for :meth:`poll_acks`."""
        sent = control_bytes(request)
        ack = self.service.control(decode_control(parse(pb.ControlRequest, sent)))
        self._acks.append(AckEvent(key_of(request), encode_ack(ack).SerializeToString()))
        return sent

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
