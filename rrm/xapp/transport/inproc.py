"""An in-process E2 client: the xApp calls a node service directly, no sockets.

Used to measure what the transports cost (the latency benchmark compares
in-process, gRPC and ZeroMQ side by side) and by tests that exercise the
slot loop without networking. Messages still go through the codec exactly
as on the wire (encode -> bytes -> parse), so behaviour matches.
"""

from __future__ import annotations

from rrm.core.errors import ProtocolMismatch
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_ack,
    decode_control,
    decode_subscribe,
    decode_subscription_reply,
    encode_ack,
    encode_control,
    encode_subscribe,
    encode_subscription_event,
    parse,
)
from rrm.core.wire.messages import (
    AckMsg,
    Cause,
    ControlMsg,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
)
from rrm.sim.e2.service import IndicationFeed, NodeService
from rrm.xapp.transport.base import TransportError


class InProcessClient:
    """Implements :class:`rrm.xapp.transport.base.E2Client` over a local NodeService."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.feed: IndicationFeed | None = None

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Subscribe through the codec, as a remote client would."""
        wire = parse(pb.SubscriptionRequest, encode_subscribe(request).SerializeToString())
        result = self.service.subscribe(decode_subscribe(wire))
        if isinstance(result, SubscriptionFailed):
            reply = decode_subscription_reply(encode_subscription_event(result))
            assert isinstance(reply, SubscriptionFailed)
            if reply.cause == Cause.UNSUPPORTED_VERSION:
                raise ProtocolMismatch(reply.detail)
            raise TransportError(f"subscription refused ({reply.cause.name}): {reply.detail}")
        self.feed = result.feed
        reply = decode_subscription_reply(encode_subscription_event(result.ack))
        assert isinstance(reply, SubscribedMsg)
        return reply

    def next_indication(self, timeout_s: float) -> pb.Indication | None:
        """Next indication from the feed; TransportError once the node closed it."""
        if self.feed is None:
            raise TransportError("not subscribed")
        msg = self.feed.get(timeout_s)
        if msg is None and self.feed.closed:
            raise TransportError("the node ended the subscription")
        if msg is None:
            return None
        return parse(pb.Indication, msg.SerializeToString())

    def control(self, request: ControlMsg, timeout_s: float) -> AckMsg:
        """Hand the control to the service and return its ack (through the codec)."""
        wire = parse(pb.ControlRequest, encode_control(request).SerializeToString())
        ack = self.service.control(decode_control(wire))
        return decode_ack(parse(pb.ControlAck, encode_ack(ack).SerializeToString()))

    def close(self) -> None:
        """Close the feed."""
        if self.feed is not None:
            self.feed.close()
