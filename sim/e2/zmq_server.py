"""The E2 node over ZeroMQ: PUB for indications, ROUTER for subscriptions and controls.

Framing:

* control socket (ROUTER): requests ``[identity, b"", kind, payload]`` with
  ``kind`` = ``b"subscribe"`` (payload: SubscriptionRequest; reply: a
  SubscriptionEvent holding the ack or the failure) or ``b"control"``
  (payload: ControlRequest; reply: ControlAck). Replies are
  ``[identity, b"", kind, payload]``. Garbage gets a REJECTED ack with cause
  INVALID_MESSAGE; the server never dies of a message.
* indication socket (PUB): ``[topic, SubscriptionEvent bytes]`` where the
  topic is the subscription's transaction id, chosen by the xApp. The xApp
  subscribes its SUB socket to that topic *before* it sends the subscription
  request, which avoids ZeroMQ's slow-joiner loss of the first indications.

ZeroMQ sockets are not thread-safe: one server thread owns both, polling the
ROUTER with a short timeout and draining every open feed in between.
"""

from __future__ import annotations

import threading

import structlog
import zmq

from sim.e2 import e2_pb2 as pb
from sim.e2.codec import (
    decode_control,
    decode_subscribe,
    encode_ack,
    encode_subscription_event,
    parse,
)
from sim.e2.messages import PROTOCOL_VERSION, AckMsg, Cause, Header, Outcome, SubscriptionFailed
from sim.e2.service import IndicationFeed, NodeService
from sim.errors import InvalidInput

log = structlog.get_logger("rrm.sim.zmq")
POLL_MS = 1


class ZmqE2Server:
    """A NodeService served on a PUB and a ROUTER socket by one thread."""

    def __init__(self, service: NodeService, host: str, pub_port: int, ctl_port: int,
                 max_message_bytes: int) -> None:
        self.service = service
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.pub = self.ctx.socket(zmq.PUB)
        self.router = self.ctx.socket(zmq.ROUTER)
        for sock in (self.pub, self.router):
            sock.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.pub_port = _bind(self.pub, host, pub_port)
        self.ctl_port = _bind(self.router, host, ctl_port)
        self.feeds: dict[bytes, IndicationFeed] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zmq-e2-node", daemon=True)

    def start(self) -> ZmqE2Server:
        """Start the server thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, close the feeds and the sockets."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if poller.poll(POLL_MS):
                    self._handle(self.router.recv_multipart())
                self._publish()
        finally:
            for feed in self.feeds.values():
                feed.close()
            self.pub.close()
            self.router.close()

    def _publish(self) -> None:
        for topic, feed in list(self.feeds.items()):
            if feed.closed:
                del self.feeds[topic]
                continue
            while (ind := feed.get(0)) is not None:
                event = pb.SubscriptionEvent(indication=ind)
                self.pub.send_multipart([topic, event.SerializeToString()])

    def _handle(self, frames: list[bytes]) -> None:
        if len(frames) != 4 or frames[1] != b"":
            log.warning("zmq_frame_malformed", frames=len(frames))
            if len(frames) >= 1:
                self._reply(frames[0], b"control", _rejection(pb.ControlRequest(), "bad framing"))
            return
        identity, _, kind, payload = frames
        if kind == b"subscribe":
            self._reply(identity, kind, self._subscribe(payload))
        elif kind == b"control":
            self._reply(identity, kind, self._control(payload))
        else:
            self.service.malformed_control(f"unknown message kind {kind[:20]!r}")
            self._reply(identity, b"control", _rejection(pb.ControlRequest(), "unknown kind"))

    def _subscribe(self, payload: bytes) -> pb.SubscriptionEvent:
        try:
            request = decode_subscribe(parse(pb.SubscriptionRequest, payload))
        except InvalidInput as err:
            return encode_subscription_event(SubscriptionFailed(Cause.INVALID_MESSAGE, str(err)))
        if request.protocol_version != PROTOCOL_VERSION:
            return encode_subscription_event(SubscriptionFailed(
                Cause.UNSUPPORTED_VERSION, f"node speaks protocol v{PROTOCOL_VERSION}, "
                                           f"xApp sent v{request.protocol_version}"))
        if not request.transaction_id:
            return encode_subscription_event(SubscriptionFailed(
                Cause.INVALID_MESSAGE, "ZeroMQ subscriptions need a transaction id (the topic)"))
        result = self.service.subscribe(request)
        if isinstance(result, SubscriptionFailed):
            return encode_subscription_event(result)
        topic = request.transaction_id.encode()
        if topic in self.feeds:
            self.feeds[topic].close()
        self.feeds[topic] = result.feed
        return encode_subscription_event(result.ack)

    def _control(self, payload: bytes) -> pb.ControlAck:
        try:
            wire = parse(pb.ControlRequest, payload)
        except InvalidInput as err:
            self.service.malformed_control(str(err))
            return _rejection(pb.ControlRequest(), str(err))
        try:
            msg = decode_control(wire)
        except InvalidInput as err:
            self.service.malformed_control(str(err))
            return _rejection(wire, str(err))
        return encode_ack(self.service.control(msg))

    def _reply(self, identity: bytes, kind: bytes, message: object) -> None:
        self.router.send_multipart([identity, b"", kind,
                                    message.SerializeToString()])  # type: ignore[attr-defined]


def _rejection(request: pb.ControlRequest, detail: str) -> pb.ControlAck:
    h = request.header
    header = Header(h.node_id, h.slot, h.sequence_number, h.timestamp_ns, h.deadline_ns,
                    h.channel_id, h.protocol_version)
    return encode_ack(AckMsg(header, Outcome.REJECTED, Cause.INVALID_MESSAGE, detail[:200]))


def _bind(sock: zmq.Socket, host: str, port: int) -> int:
    if port == 0:
        return int(sock.bind_to_random_port(f"tcp://{host}"))
    sock.bind(f"tcp://{host}:{port}")
    return port


def create_zmq_server(service: NodeService, host: str = "127.0.0.1", pub_port: int = 0,
                      ctl_port: int = 0,
                      max_message_bytes: int = 64 << 20) -> tuple[ZmqE2Server, int, int]:
    """Start a ZeroMQ E2 node; returns (server, indication port, control port)."""
    server = ZmqE2Server(service, host, pub_port, ctl_port, max_message_bytes).start()
    log.info("zmq_server_started", host=host, pub_port=server.pub_port,
             ctl_port=server.ctl_port)
    return server, server.pub_port, server.ctl_port
