"""The E2 node over ZeroMQ: XPUB for indications, ROUTER for subscriptions and controls.

Framing (every payload is a serialized protobuf message of e2.proto):

* control socket (ROUTER, client side DEALER): requests are
  ``[identity, b"", kind, payload]`` with ``kind`` = ``b"subscribe"``
  (payload: SubscriptionRequest; reply payload: a SubscriptionEvent holding
  the ack or the failure) or ``b"control"`` (payload: ControlRequest; reply
  payload: ControlAck). Replies are ``[identity, b"", kind, payload]``.
  Garbage payloads, unknown kinds and bad framing are counted through
  ``malformed_control`` and answered with a REJECTED ack, cause
  INVALID_MESSAGE; the server never dies of a message. A request larger than
  ``max_message_bytes`` (ZMQ_MAXMSGSIZE) makes ZeroMQ drop that peer's
  connection: the client times out, reconnects, and the server carries on.
* indication socket (XPUB, client side SUB): ``[topic, SubscriptionEvent]``
  where ``topic`` is the subscription's transaction id (UTF-8), chosen by the
  xApp; a ZeroMQ subscription therefore needs a non-empty transaction id.

Slow joiners: a SUB socket's topic filter reaches the publisher some time
after it connects, and a PUB drops whatever it sends before that. The server
uses XPUB, which reports each subscribed topic prefix, and publishes a
subscription's indications only once some SUB socket has subscribed to its
topic; until then they wait in the feed (which keeps the freshest). So a
client that holds its ack never misses the first indications, whatever the
order in which its SUB filter and its subscribe request arrive. A feed whose
topic nobody listens to for ``ORPHAN_S`` is closed (the client went away).
Whether a topic is heard is kept per open topic and updated per
(un)subscription message (:class:`rrm.sim.e2.listeners.TopicListeners`),
never recomputed per turn: a SUB listening to thousands of junk topics costs
the node nothing per slot.

Transport security: with ``curve`` (:class:`rrm.core.wire.credentials.CurveFiles`)
both sockets are CURVE servers (encrypted; a client must know the node's
public key). With an authorised-clients directory a ZAP handler
(``zmq.auth.ThreadAuthenticator`` on the node's own context) admits only the
public keys found there; others fail the handshake and never reach the
node's code. Without ``curve`` on a non-loopback host the node logs
``insecure_bind``.

ZeroMQ sockets are not thread-safe: one server thread owns both and sleeps
in a poll until a request, a listener change or a queued indication arrives
(feeds that can wake it, :class:`rrm.sim.e2.service.WakingFeed`, ring a
:class:`rrm.sim.e2.doorbell.Doorbell`; while some feed cannot, the poll wakes
every ``POLL_MS``). Such feeds hand their indications already serialized,
shared by every subscriber of the slot (:mod:`rrm.sim.feed`), so publishing
one slot to 8 subscribers serializes it once. Requests
come first: every waiting request (up to ``REQUESTS_PER_TURN``) is answered
before any feed is drained, and a turn publishes at most ``FEED_BURST``
indications per feed, so feeds never hold Control back. Subscriptions are
bounded per routing identity and in total
(:class:`rrm.sim.e2.admission.SubscriptionLimits`; excess: a
SubscriptionFailure with cause OVERLOAD), and a subscription's slot is given
back when its feed closes, is orphaned or is replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import structlog
import zmq
from google.protobuf.message import Message
from zmq.auth.thread import ThreadAuthenticator

from rrm.core.errors import InvalidInput, clip
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_subscribe,
    encode_ack,
    encode_subscription_event,
    header_from_pb,
    parse,
)
from rrm.core.wire.credentials import (
    CurveFiles,
    check_authorized_dir,
    insecure_warning,
    load_curve_keypair,
)
from rrm.core.wire.messages import AckMsg, Cause, Outcome, SubscriptionFailed, version_refusal
from rrm.core.wire.node_wire import decode_control_lean
from rrm.sim.e2.admission import SubscriptionGate, SubscriptionLimits
from rrm.sim.e2.doorbell import Doorbell
from rrm.sim.e2.listeners import TopicListeners
from rrm.sim.e2.service import IndicationFeed, NodeService, WakingFeed

log = structlog.get_logger("rrm.sim.zmq")
POLL_MS = 1  # wake-up period while some feed cannot wake the server (how long it may wait), ms
HOUSEKEEPING_MS = 500  # longest sleep otherwise: orphaned feeds are noticed within it, ms
ORPHAN_S = 10.0  # a feed whose topic has no subscriber for this long is closed, s
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20  # 64 MiB
REQUESTS_PER_TURN = 64  # requests answered before feeds are drained again
FEED_BURST = 4  # indications one feed may publish per turn
PUB_HWM = 16  # indications queued per SUB connection: a reader that stops costs 16, not 1000
_SNDMORE = int(zmq.SNDMORE)  # plain ints: IntFlag arithmetic per frame costs more than the send
_POLLIN = int(zmq.POLLIN)
_NOBLOCK = int(zmq.NOBLOCK)


class ZmqE2Server:
    """A NodeService served on an XPUB and a ROUTER socket by one thread."""

    def __init__(self, service: NodeService, host: str, pub_port: int, ctl_port: int,
                 max_message_bytes: int, curve: CurveFiles | None = None,
                 limits: SubscriptionLimits | None = None) -> None:
        self.service = service
        self.gate = SubscriptionGate(limits)
        keys = None
        if curve is not None:
            keys = load_curve_keypair(curve.secret_key_file, "CURVE server secret key")
            if curve.authorized_dir:
                check_authorized_dir(curve.authorized_dir)
        insecure_warning(host, curve is not None, "bind", "zmq")
        # A CURVE node gets a context of its own: its ZAP handler then judges its sockets only.
        self.ctx: zmq.Context[zmq.Socket[bytes]] = (
            zmq.Context() if curve is not None else zmq.Context.instance())
        self.auth: ThreadAuthenticator | None = None
        if curve is not None and curve.authorized_dir:
            self.auth = ThreadAuthenticator(self.ctx, log=_quiet_auth_log())
            self.auth.start()
            self.auth.configure_curve(domain="*", location=curve.authorized_dir)
        self.pub = self.ctx.socket(zmq.XPUB)
        self.router = self.ctx.socket(zmq.ROUTER)
        self.pub.setsockopt(zmq.SNDHWM, PUB_HWM)
        for sock in (self.pub, self.router):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
            if keys is not None:
                sock.curve_publickey, sock.curve_secretkey = keys
                sock.curve_server = True
        try:
            self.pub_port = _bind(self.pub, host, pub_port)
            self.ctl_port = _bind(self.router, host, ctl_port)
        except zmq.ZMQError as err:
            self.pub.close()
            self.router.close()
            self._release_context()
            raise InvalidInput(f"cannot bind the ZeroMQ E2 node on {host}: {err}") from None
        self.feeds: dict[bytes, IndicationFeed] = {}
        self._payloads: dict[bytes, Callable[[float], bytes | None]] = {}  # topic -> next event
        self._polled: set[bytes] = set()  # topics whose feed cannot wake the server
        self._backlog = False  # some feed published its burst and may hold more
        self.turns = 0  # poll wake-ups so far (an idle node sleeps: a few per slot)
        self.doorbell = Doorbell()
        self._peers: dict[bytes, str] = {}  # topic -> routing identity holding its gate slot
        self.listeners = TopicListeners()  # which feed topics some SUB socket listens to
        self._unheard_since: dict[bytes, float] = {}  # topic -> when it had no subscriber
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zmq-e2-node", daemon=True)

    def start(self) -> ZmqE2Server:
        """Start the server thread."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; it closes the feeds and the sockets on its way out."""
        self._stop.set()
        self.doorbell.ring()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            self._release_context()

    def _release_context(self) -> None:
        """Stop the ZAP handler and end a private context (the shared one stays)."""
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        if self.ctx is not zmq.Context.instance() and not self.ctx.closed:
            self.ctx.term()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.pub, zmq.POLLIN)
        poller.register(self.doorbell.fileno(), zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(self._sleep_ms()))
                self.turns += 1
                rang = self.doorbell.fileno() in ready
                if rang:
                    self.doorbell.clear()  # before publishing: a later ring wakes the next poll
                if self.pub in ready:
                    self._track_listeners()
                if self.router in ready:
                    self._answer_requests()
                if rang or self._backlog or self._polled or not ready or self.pub in ready:
                    self._publish()  # not after requests alone: a control queues nothing
        finally:
            for feed in self.feeds.values():
                feed.close()
            self.pub.close()
            self.router.close()
            self.doorbell.close()
            log.info("zmq_server_stopped", pub_port=self.pub_port, ctl_port=self.ctl_port)

    def _sleep_ms(self) -> int:
        """How long the next poll may sleep: until woken, or ``POLL_MS`` to poll a plain feed
        or to go on with a backlog (a burst paced at ``FEED_BURST`` per ms: XPUB drops what
        exceeds a SUB's ``PUB_HWM`` unsent, so a backlog is not pushed out at once)."""
        return POLL_MS if self._backlog or self._polled else HOUSEKEEPING_MS

    def _answer_requests(self) -> None:
        """Answer every waiting request (bounded per turn) before any feed is drained."""
        router = self.router
        for _ in range(REQUESTS_PER_TURN):
            if not int(router.getsockopt(zmq.EVENTS)) & _POLLIN:  # drained: no exception to raise
                return
            try:
                frames = _recv_frames(router)
            except zmq.Again:
                return
            self._handle_safely(frames)

    def _track_listeners(self) -> None:
        """Read XPUB's (un)subscription messages: ``b"\\x01" + prefix`` / ``b"\\x00" + prefix``."""
        while True:
            try:
                msg = self.pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.listeners.message(msg)

    def _publish(self) -> None:
        now = time.monotonic()
        self._backlog = False
        for topic, feed in list(self.feeds.items()):
            if feed.closed:
                self._forget(topic)
            elif not self.listeners.heard(topic):
                if now - self._unheard_since.setdefault(topic, now) > ORPHAN_S:
                    log.info("subscription_orphaned", topic=topic.decode(errors="replace"))
                    feed.close()
                    self._forget(topic)
            else:
                self._unheard_since.pop(topic, None)
                self._drain(topic, self._payloads[topic])

    def _drain(self, topic: bytes, next_event: Callable[[float], bytes | None]) -> None:
        """Publish up to ``FEED_BURST`` of one feed's indications."""
        for _ in range(FEED_BURST):
            if (payload := next_event(0)) is None:
                return
            self.pub.send(topic, _SNDMORE)
            self.pub.send(payload, copy=False)  # zero-copy: a K = 400 slot is 1.3 MB
        self._backlog = True

    def _track(self, topic: bytes, feed: IndicationFeed) -> None:
        """Serve a new feed: wake on it when it can say it has something, else poll it.

        It may already hold indications queued before it could ring: it counts as a
        backlog, so this turn publishes them."""
        self.feeds[topic] = feed
        self._backlog = True
        if isinstance(feed, WakingFeed):
            feed.on_ready(self.doorbell.ring)
            self._payloads[topic] = feed.get_event
        else:
            self._polled.add(topic)
            self._payloads[topic] = lambda timeout_s: _serialized(feed.get(timeout_s))

    def _forget(self, topic: bytes) -> None:
        del self.feeds[topic]
        self._payloads.pop(topic, None)
        self._polled.discard(topic)
        self.listeners.close_topic(topic)
        self._unheard_since.pop(topic, None)
        peer = self._peers.pop(topic, None)
        if peer is not None:
            self.gate.release(peer)

    def _handle_safely(self, frames: list[bytes]) -> None:
        """Answer one request; a failing handler costs a REJECTED ack, never the thread."""
        try:
            self._handle(frames)
        except Exception as err:  # noqa: BLE001 - the server must outlive any request
            log.exception("zmq_request_failed", error=clip(err))
            ack = _rejection(pb.ControlRequest(), f"node failed: {err}", Cause.FAILED_TO_EXECUTE)
            self._reply(frames[0], b"control", ack)

    def _handle(self, frames: list[bytes]) -> None:
        identity = frames[0]
        if len(frames) != 4 or frames[1] != b"":
            self._malformed(identity, f"bad framing ({len(frames)} frames, expected 4)")
            return
        _, _, kind, payload = frames
        if kind == b"subscribe":
            self._reply(identity, kind, self._subscribe(payload, identity.hex()))
        elif kind == b"control":
            self._reply(identity, kind, self._control_wire(payload))
        else:
            self._malformed(identity, f"unknown message kind {kind[:20]!r}")

    def _malformed(self, identity: bytes, detail: str) -> None:
        self._reply(identity, b"control", self._refuse(pb.ControlRequest(), detail))

    def _refuse(self, request: pb.ControlRequest, detail: str) -> pb.ControlAck:
        """Count a malformed control and build its REJECTED / INVALID_MESSAGE ack."""
        self.service.malformed_control(detail)
        detail = clip(detail)
        log.warning("control_malformed", detail=detail)
        return _rejection(request, detail)

    def _subscribe(self, payload: bytes, peer: str) -> pb.SubscriptionEvent:
        try:
            request = decode_subscribe(parse(pb.SubscriptionRequest, payload))
        except InvalidInput as err:
            return encode_subscription_event(SubscriptionFailed(Cause.INVALID_MESSAGE, str(err)))
        refusal = version_refusal(request.protocol_version)
        if refusal is not None:
            log.warning("subscription_version_mismatch", xapp_id=request.xapp_id,
                        version=request.protocol_version)
            return encode_subscription_event(refusal)
        if not request.transaction_id:
            return encode_subscription_event(SubscriptionFailed(
                Cause.INVALID_MESSAGE, "ZeroMQ subscriptions need a transaction id (the topic)"))
        topic = request.transaction_id.encode()
        if topic in self.feeds:
            self.feeds[topic].close()  # resumed by transaction id: the new feed replaces it
            self._forget(topic)
        overload = self.gate.acquire(peer)
        if overload is None:
            result = self.service.subscribe(request)
            if isinstance(result, SubscriptionFailed):
                self.gate.release(peer)
        else:
            result = overload
        if isinstance(result, SubscriptionFailed):
            log.warning("subscription_refused", xapp_id=clip(request.xapp_id),
                        cause=result.cause.name, detail=result.detail)
            return encode_subscription_event(result)
        self._track(topic, result.feed)
        self.listeners.open_topic(topic)
        self._peers[topic] = peer
        log.info("subscription_opened", channel_id=result.ack.channel_id,
                 xapp_id=request.xapp_id, topic=request.transaction_id)
        return encode_subscription_event(result.ack)

    def _control(self, payload: bytes) -> pb.ControlAck:
        """The ack of one control request (:meth:`_control_wire`, parsed back)."""
        return pb.ControlAck.FromString(self._control_wire(payload))

    def _control_wire(self, payload: bytes) -> bytes:
        """The serialized ack of one control request (as it is sent)."""
        try:
            wire = parse(pb.ControlRequest, payload)
        except InvalidInput as err:
            return self._refuse(pb.ControlRequest(), str(err)).SerializeToString()
        try:
            msg = decode_control_lean(wire)
        except InvalidInput as err:  # echo the header it did carry
            return self._refuse(wire, str(err)).SerializeToString()
        return encode_ack(self.service.control(msg)).SerializeToString()

    def _reply(self, identity: bytes, kind: bytes, message: Message | bytes) -> None:
        """``[identity, b"", kind, payload]``: four sends with plain int flags (pyzmq's
        ``send_multipart`` combines enum flags per frame, a measurable share of a turn)."""
        payload = message if isinstance(message, bytes) else message.SerializeToString()
        send = self.router.send
        send(identity, _SNDMORE)
        send(b"", _SNDMORE)
        send(kind, _SNDMORE)
        send(payload)


def _recv_frames(sock: zmq.Socket[bytes]) -> list[bytes]:
    """``sock.recv_multipart(zmq.NOBLOCK)``: the same frames, each frame's "more" flag read
    from the frame instead of a ``getsockopt(RCVMORE)`` per frame (an enum conversion each
    in pyzmq: half the cost of a 4-frame request)."""
    frame = sock.recv(_NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = sock.recv(_NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames


def _serialized(ind: pb.Indication | None) -> bytes | None:
    """A plain feed's indication as the ``SubscriptionEvent`` payload published for it."""
    return None if ind is None else pb.SubscriptionEvent(indication=ind).SerializeToString()


def _rejection(request: pb.ControlRequest, detail: str,
               cause: Cause = Cause.INVALID_MESSAGE) -> pb.ControlAck:
    return encode_ack(AckMsg(header_from_pb(request.header), Outcome.REJECTED, cause,
                             clip(detail)))


def _quiet_auth_log() -> logging.Logger:
    """zmq.auth logs every admitted connection at debug and every refusal at info."""
    logger = logging.getLogger("rrm.sim.zmq.auth")
    logger.setLevel(logging.WARNING)
    return logger


def _bind(sock: zmq.Socket[bytes], host: str, port: int) -> int:
    if port == 0:
        return int(sock.bind_to_random_port(f"tcp://{host}"))
    sock.bind(f"tcp://{host}:{port}")
    return port


def create_zmq_server(service: NodeService, host: str = "127.0.0.1", pub_port: int = 0,
                      ctl_port: int = 0, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                      curve: CurveFiles | None = None, limits: SubscriptionLimits | None = None,
                      ) -> tuple[ZmqE2Server, int, int]:
    """Start a ZeroMQ E2 node; returns (server, indication port, control port).

    Port 0 binds any free port. ``max_message_bytes`` caps what the node
    accepts on either socket. ``curve``: encrypt with CURVE (and admit only
    authorised client keys when it names a directory); bad key files raise
    ConfigError. ``limits`` bounds the subscriptions (per routing identity, in
    total). Stop it with :meth:`ZmqE2Server.stop`.
    """
    server = ZmqE2Server(service, host, pub_port, ctl_port, max_message_bytes, curve,
                         limits).start()
    security = "none" if curve is None else (
        "curve+authorized-clients" if curve.authorized_dir else "curve")
    log.info("zmq_server_started", host=host, pub_port=server.pub_port,
             ctl_port=server.ctl_port, security=security)
    return server, server.pub_port, server.ctl_port
