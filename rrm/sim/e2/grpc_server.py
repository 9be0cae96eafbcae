"""The E2 node over gRPC: server-streaming Subscribe, unary Control, standard health.

What flows: ``Subscribe(SubscriptionRequest)`` answers with a stream of
``SubscriptionEvent`` (first the ack or the failure, then one indication per
slot until the client cancels); ``Control(ControlRequest)`` answers with one
``ControlAck``. The standard ``grpc.health.v1`` service reports SERVING for
``""`` and ``rrm.e2.v1.E2Node`` while the server runs and NOT_SERVING once it
is stopping.

The servicer holds only RPC plumbing: it decodes, calls the pure handlers of
a :class:`rrm.sim.e2.service.NodeService` on domain objects, and encodes. Each
open subscription occupies one worker thread for its lifetime, so their
number is bounded (:class:`rrm.sim.e2.admission.SubscriptionLimits`, per peer
and in total; an excess Subscribe is answered with a SubscriptionFailure,
cause OVERLOAD) and the pool has ``control_workers`` threads more than
subscriptions can hold: held or abandoned streams never starve Control. A
stream whose feed the node closed (idle reader, shutdown) is cancelled by a
watchdog even while its thread waits on a client that stopped reading.

Garbage bytes that are not a ControlRequest at all fail in gRPC's own
deserializer and are answered with status INTERNAL before any servicer code
runs (the server keeps serving); a request that parses but fails validation
is counted through ``malformed_control`` and acknowledged REJECTED with cause
INVALID_MESSAGE.

Transport security: with ``tls`` (:class:`rrm.core.wire.credentials.TlsFiles`,
certificate + key) the port is TLS-only; a ``ca_file`` there makes it mutual
TLS (clients must present a certificate that CA signed). Without ``tls`` on
a non-loopback address the node logs ``insecure_bind``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rrm.core.errors import ConfigError, InvalidInput, clip
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire import e2_pb2_grpc
from rrm.core.wire.codec import (
    decode_subscribe,
    encode_ack,
    encode_subscription_event,
    header_from_pb,
)
from rrm.core.wire.credentials import TlsFiles, insecure_warning, load_tls
from rrm.core.wire.messages import (
    AckMsg,
    Cause,
    Outcome,
    SubscribeMsg,
    SubscriptionFailed,
    version_refusal,
)
from rrm.core.wire.node_wire import decode_control_lean
from rrm.sim.e2.admission import SubscriptionGate, SubscriptionLimits
from rrm.sim.e2.service import IndicationFeed, NodeService, WakingFeed

log = structlog.get_logger("rrm.sim.grpc")
SERVICE_NAME = "rrm.e2.v1.E2Node"
POLL_S = 0.1  # how often a stream checks that its client is still there, s
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20  # 64 MiB: a K = 2000 gain matrix is 32 MB
WATCHDOG_S = 0.5  # how often closed feeds' streams are cancelled, s


class E2NodeServicer(e2_pb2_grpc.E2NodeServicer):
    """gRPC face of a NodeService (RPC methods only)."""

    def __init__(self, service: NodeService, gate: SubscriptionGate | None = None) -> None:
        self.service = service
        self.gate = gate or SubscriptionGate()
        self._streams: dict[int, tuple[grpc.ServicerContext, IndicationFeed]] = {}
        self._lock = threading.Lock()
        self._watching = False  # the watchdog runs while streams are open

    def Subscribe(self, request: pb.SubscriptionRequest,  # noqa: N802 - generated name
                  context: grpc.ServicerContext) -> Iterator[pb.SubscriptionEvent | bytes]:
        """Ack (or failure) first, then one indication per slot until the client leaves."""
        sub = decode_subscribe(request)
        refusal = version_refusal(sub.protocol_version)
        if refusal is not None:
            log.warning("subscription_version_mismatch", xapp_id=sub.xapp_id,
                        version=sub.protocol_version)
            yield encode_subscription_event(refusal)
            return
        peer = context.peer()
        overload = self.gate.acquire(peer)
        if overload is not None:
            log.warning("subscription_refused", xapp_id=clip(sub.xapp_id), peer=clip(peer),
                        cause=overload.cause.name, detail=overload.detail)
            yield encode_subscription_event(overload)
            return
        try:
            yield from self._serve(sub, context)
        finally:
            self.gate.release(peer)

    def _serve(self, sub: SubscribeMsg,
               context: grpc.ServicerContext) -> Iterator[pb.SubscriptionEvent | bytes]:
        result = self.service.subscribe(sub)
        if isinstance(result, SubscriptionFailed):
            log.warning("subscription_refused", xapp_id=clip(sub.xapp_id),
                        cause=result.cause.name)
            yield encode_subscription_event(result)
            return
        feed = result.feed
        log.info("subscription_opened", channel_id=result.ack.channel_id,
                 xapp_id=clip(sub.xapp_id))
        with self._lock:
            self._streams[id(context)] = (context, feed)
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, name="e2-grpc-watchdog",
                                 daemon=True).start()
        try:
            yield encode_subscription_event(result.ack)
            next_event = _event_source(feed)
            while context.is_active() and not feed.closed:
                event = next_event(POLL_S)
                if event is not None:
                    yield event
        finally:
            with self._lock:
                self._streams.pop(id(context), None)
            feed.close()
            log.info("subscription_closed", channel_id=result.ack.channel_id)

    def _watch(self) -> None:
        """Cancel the streams whose feed was closed by the node (idle reader, shutdown)."""
        while True:
            time.sleep(WATCHDOG_S)
            with self._lock:
                if not self._streams:
                    self._watching = False
                    return
                ended = [ctx for ctx, feed in self._streams.values() if feed.closed]
            for ctx in ended:
                ctx.cancel()  # wakes a worker blocked on a client that stopped reading

    def Control(self, request: pb.ControlRequest,  # noqa: N802 - generated name
                context: grpc.ServicerContext) -> pb.ControlAck:
        """Decode, apply through the service, acknowledge."""
        try:
            msg = decode_control_lean(request)
        except InvalidInput as err:
            detail = clip(err)
            self.service.malformed_control(detail)
            log.warning("control_malformed", detail=detail)
            return encode_ack(AckMsg(header_from_pb(request.header), Outcome.REJECTED,
                                     Cause.INVALID_MESSAGE, detail))
        return encode_ack(self.service.control(msg))


def create_grpc_server(service: NodeService, address: str = "127.0.0.1:0",
                       max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                       tls: TlsFiles | None = None,
                       limits: SubscriptionLimits | None = None,
                       ) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Start a gRPC E2 node on ``address`` ("host:port", port 0 = any free port).

    Returns (started server, bound port, health servicer); pass the last two
    to :func:`stop_grpc_server`. ``max_message_bytes`` caps both directions;
    a larger request is refused with RESOURCE_EXHAUSTED. ``limits`` bounds
    the subscriptions (per peer, in total); the worker pool holds one thread per
    allowed subscription plus ``limits.control_workers`` for Control. ``tls``:
    serve TLS (mutual TLS when it names a client CA); bad files raise ConfigError.
    """
    limits = limits or SubscriptionLimits()
    credentials = _server_credentials(tls) if tls is not None else None
    insecure_warning(address.rsplit(":", 1)[0], credentials is not None, "bind", "grpc")
    options = [("grpc.max_send_message_length", max_message_bytes),
               ("grpc.max_receive_message_length", max_message_bytes)]
    workers = limits.max_total + limits.control_workers
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="e2-grpc"),
                         options=options)
    servicer = E2NodeServicer(service, SubscriptionGate(limits))
    _add_servicer(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = (server.add_secure_port(address, credentials) if credentials is not None
                else server.add_insecure_port(address))
    except RuntimeError:
        port = 0
    if port == 0:
        raise InvalidInput(f"cannot bind the gRPC E2 node to {address!r} (in use or invalid)")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc_server_started", address=address, port=port,
             security=_security_name(tls))
    return server, port, health_servicer


def _event_source(feed: IndicationFeed) -> Callable[[float], bytes | None]:
    """How a stream takes its next indication: serialized once by the feed when it can."""
    if isinstance(feed, WakingFeed):
        return feed.get_event  # the slot's shared bytes (the same ones ZeroMQ publishes)

    def serialized(timeout_s: float) -> bytes | None:
        ind = feed.get(timeout_s)
        return None if ind is None else pb.SubscriptionEvent(indication=ind).SerializeToString()

    return serialized


def _event_wire(event: pb.SubscriptionEvent | bytes) -> bytes:
    """A stream event as sent: indications arrive already serialized, acks do not."""
    return event if isinstance(event, bytes) else event.SerializeToString()


def _add_servicer(servicer: E2NodeServicer, server: grpc.Server) -> None:
    """The generated registration, but Subscribe's events may be pre-serialized bytes."""
    handlers = {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe, request_deserializer=pb.SubscriptionRequest.FromString,
            response_serializer=_event_wire),
        "Control": grpc.unary_unary_rpc_method_handler(
            servicer.Control, request_deserializer=pb.ControlRequest.FromString,
            response_serializer=pb.ControlAck.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME,
                                                                         handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def _server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    if not tls.cert_file:
        raise ConfigError("TLS server: a certificate and a key file are required")
    pem = load_tls(tls, "server", ("certificate (--tls-cert)", "key (--tls-key)",
                                   "client CA (--tls-client-ca)"))
    return grpc.ssl_server_credentials([(pem.key, pem.cert)], root_certificates=pem.ca or None,
                                       require_client_auth=bool(pem.ca))


def _security_name(tls: TlsFiles | None) -> str:
    if tls is None:
        return "none"
    return "mutual-tls" if tls.ca_file else "tls"


def stop_grpc_server(server: grpc.Server, health_servicer: health.HealthServicer,
                     grace_s: float = 1.0) -> None:
    """Report NOT_SERVING, then stop, letting in-flight RPCs finish for ``grace_s`` s."""
    try:
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        server.stop(grace_s).wait()
        log.info("grpc_server_stopped")
