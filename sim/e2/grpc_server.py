"""The E2 node over gRPC: server-streaming Subscribe, unary Control, standard health.

The servicer holds only RPC plumbing: it decodes, calls the pure handlers of
a :class:`sim.e2.service.NodeService`, and encodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sim.e2 import e2_pb2 as pb
from sim.e2 import e2_pb2_grpc
from sim.e2.codec import decode_control, decode_subscribe, encode_ack, encode_subscription_event
from sim.e2.messages import PROTOCOL_VERSION, AckMsg, Cause, Header, Outcome, SubscriptionFailed
from sim.e2.service import NodeService
from sim.errors import InvalidInput

log = structlog.get_logger("rrm.sim.grpc")
SERVICE_NAME = "rrm.e2.v1.E2Node"
POLL_S = 0.1  # how often a stream checks that its client is still there


class E2NodeServicer(e2_pb2_grpc.E2NodeServicer):
    """gRPC face of a NodeService."""

    def __init__(self, service: NodeService) -> None:
        self.service = service

    def Subscribe(self, request: pb.SubscriptionRequest,  # noqa: N802 - generated name
                  context: grpc.ServicerContext) -> Iterator[pb.SubscriptionEvent]:
        """Ack (or failure) first, then one indication per slot until the client leaves."""
        sub = decode_subscribe(request)
        if sub.protocol_version != PROTOCOL_VERSION:
            yield encode_subscription_event(SubscriptionFailed(
                Cause.UNSUPPORTED_VERSION, f"node speaks protocol v{PROTOCOL_VERSION}, "
                                           f"xApp sent v{sub.protocol_version}"))
            return
        result = self.service.subscribe(sub)
        if isinstance(result, SubscriptionFailed):
            yield encode_subscription_event(result)
            return
        feed = result.feed
        try:
            yield encode_subscription_event(result.ack)
            while context.is_active() and not feed.closed:
                ind = feed.get(POLL_S)
                if ind is not None:
                    yield pb.SubscriptionEvent(indication=ind)
        finally:
            feed.close()

    def Control(self, request: pb.ControlRequest,  # noqa: N802 - generated name
                context: grpc.ServicerContext) -> pb.ControlAck:
        """Decode, apply through the service, acknowledge."""
        try:
            msg = decode_control(request)
        except InvalidInput as err:
            self.service.malformed_control(str(err))
            h = request.header
            header = Header(h.node_id, h.slot, h.sequence_number, h.timestamp_ns, h.deadline_ns,
                            h.channel_id, h.protocol_version)
            return encode_ack(AckMsg(header, Outcome.REJECTED, Cause.INVALID_MESSAGE, str(err)))
        return encode_ack(self.service.control(msg))


def create_grpc_server(service: NodeService, address: str = "127.0.0.1:0",
                       max_message_bytes: int = 64 << 20,
                       max_workers: int = 16) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Start a gRPC E2 node; returns (server, bound port, health servicer).

    Each open subscription holds one worker thread, so ``max_workers`` bounds
    concurrent subscriptions plus in-flight controls.
    """
    options = [("grpc.max_send_message_length", max_message_bytes),
               ("grpc.max_receive_message_length", max_message_bytes)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=options)
    e2_pb2_grpc.add_E2NodeServicer_to_server(E2NodeServicer(service), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise InvalidInput(f"cannot bind gRPC server to {address!r}")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc_server_started", address=address, port=port)
    return server, port, health_servicer


def stop_grpc_server(server: grpc.Server, health_servicer: health.HealthServicer,
                     grace_s: float = 1.0) -> None:
    """Say NOT_SERVING, then stop with a grace period."""
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    server.stop(grace_s).wait()
