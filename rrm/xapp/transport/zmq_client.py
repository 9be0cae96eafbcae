"""ZeroMQ client of an E2 node: SUB for indications, DEALER for subscription and control.

Framing and topics: see :mod:`rrm.sim.e2.zmq_server`. The SUB socket subscribes
to the topic = the request's transaction id; the node holds a subscription's
indications until that topic filter has reached it (XPUB), so none of the
first indications are lost to ZeroMQ's slow-joiner effect.

Requests go on a DEALER socket, not REQ: a REQ socket whose request timed out
refuses to send again until it gets the (maybe never coming) reply. Here a
timed-out request is simply abandoned; replies are matched to requests (a
control ack by the echoed node id and sequence number, a subscription reply
by transaction id) and stale replies are discarded. The DEALER sets
ZMQ_IMMEDIATE, so a request to a node that is not connected fails within the
timeout instead of being queued and delivered to a later node.

The stream counts as broken (``next_indication`` raises) when the SUB
connection drops (socket monitor: the node closed it) or when no indication
arrived for ``max(SILENCE_S, SILENCE_SLOTS x slot period)``
(:class:`rrm.xapp.transport.base.SilenceWatch`, shared with gRPC). Frames
are screened against the size limits before they are queued, and the queue
is bounded by bytes as well as count.

A resubscription (or ``close``) closes the SUB socket: indications of the old
subscription that ZeroMQ already queued in it, unread, are read out first and
counted as ``superseded``, and so is what ``close`` leaves in the receive
queue. What the node publishes after the old topic filter left it never
reaches this socket (a PUB sends only to matching filters); the node, not this
client, can count those.

With ``curve`` keys both sockets are CURVE clients of the node's public key.
A node with another key, or one that does not admit our key, fails the
handshake: nothing is ever delivered and ``subscribe`` raises
:class:`TransportError` after its timeout.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from rrm.core.errors import InvalidInput
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_subscription_reply, encode_subscribe, parse
from rrm.core.wire.freshness import DropOldestQueue
from rrm.core.wire.messages import ControlMsg, SubscribedMsg, SubscribeMsg
from rrm.xapp.transport.base import (
    QUEUE_BYTES,
    QUEUE_SLOTS,
    SILENCE_S,
    SILENCE_SLOTS,
    SUBSCRIBE_TIMEOUT_S,
    Acked,
    Arrival,
    Received,
    SilenceWatch,
    TransportError,
    acked,
    arrival,
    control_bytes,
    opened,
    receive,
    wait_steps,
)
from rrm.xapp.transport.inflight import AckEvent, AckKey
from rrm.xapp.transport.screen import SizeLimits
from rrm.xapp.transport.security import CurveClientKeys

log = structlog.get_logger("rrm.xapp.zmq")
__all__ = ["SILENCE_S", "SILENCE_SLOTS", "SUBSCRIBE_TIMEOUT_S", "ZmqE2Client"]
READ_POLL_MS = 100  # how often the receive thread checks for close()
DRAIN_QUIET_MS = 50  # a closing SUB counts as drained after this long without a frame
DRAIN_BUDGET_S = 0.5  # at most this long spent draining a closing SUB (a flood never ends)
INDICATION_TAG = b"\x1a"  # SubscriptionEvent.indication: field 3, length-delimited


class ZmqE2Client:
    """:class:`rrm.xapp.transport.base.E2Client` over ZeroMQ (node's pub and control ports)."""

    def __init__(self, host: str, pub_port: int, ctl_port: int,
                 max_message_bytes: int = 64 << 20, queue_slots: int = QUEUE_SLOTS,
                 curve: CurveClientKeys | None = None, limits: SizeLimits | None = None,
                 queue_bytes: int = QUEUE_BYTES) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.endpoint_pub = f"tcp://{host}:{pub_port}"
        self.endpoint_ctl = f"tcp://{host}:{ctl_port}"
        self.max_message_bytes = max_message_bytes
        self.curve = curve
        self.dealer = self.ctx.socket(zmq.DEALER)
        self._secure(self.dealer)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)
        self.dealer.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.dealer.connect(self.endpoint_ctl)
        self.limits = limits or SizeLimits()
        self.queue: DropOldestQueue[Arrival] = DropOldestQueue(queue_slots, queue_bytes)
        self.broken = ""  # why the stream broke; empty while it is open
        self.unreadable = 0  # indication frames that were not a SubscriptionEvent (dropped)
        self.superseded = 0  # indications left unread in a SUB closed by resubscribe / close
        self.silence = SilenceWatch()
        self.abandon: threading.Event | None = None  # set: connect/subscribe waits give up
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    def _secure(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` a CURVE client of the node (no-op without keys)."""
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_public
            sock.curve_publickey = self.curve.public
            sock.curve_secretkey = self.curve.secret

    @property
    def dropped(self) -> int:
        """Indications evicted unread because the queue was full."""
        return self.queue.dropped

    def drops(self) -> Counter[str]:
        """Indications lost before the loop saw them, by cause."""
        return Counter({"queue_full": self.queue.dropped, "unreadable": self.unreadable,
                        "superseded": self.superseded})

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Subscribe the SUB socket to our topic, then ask the node; returns its ack."""
        if not request.transaction_id:
            raise TransportError("ZeroMQ subscriptions need a transaction id (the topic)")
        self._stop_reader()
        self.broken = ""
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name="e2-zmq-reader",
                                        args=(request.transaction_id.encode(), self._stop))
        self._reader.start()
        try:
            reply = self._subscribe(request)
        except BaseException:
            self._stop_reader()
            raise
        self.silence.start(reply)
        return reply

    def _subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        def answers(payload: bytes) -> bool:
            try:
                event = parse(pb.SubscriptionEvent, payload)
            except InvalidInput:
                return False
            return event.WhichOneof("event") != "ack" or (
                event.ack.transaction_id == request.transaction_id)

        wire = encode_subscribe(request).SerializeToString()
        payload = self._request(b"subscribe", wire, SUBSCRIBE_TIMEOUT_S, answers, self.abandon)
        try:
            reply = decode_subscription_reply(parse(pb.SubscriptionEvent, payload))
        except InvalidInput as err:
            raise TransportError(f"subscription reply unreadable: {err}") from None
        return opened(reply, request)

    def _read(self, topic: bytes, stop: threading.Event) -> None:
        """Receive loop: SUB frames -> queue; the socket monitor reports a dropped node."""
        sub = self.ctx.socket(zmq.SUB)
        self._secure(sub)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        monitor = sub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sub.connect(self.endpoint_pub)
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        try:
            while not stop.is_set():
                ready = dict(poller.poll(READ_POLL_MS))
                if monitor in ready:
                    recv_monitor_message(monitor)
                    self.broken = "the node closed the indication connection"
                    log.info("e2_stream_ended", endpoint=self.endpoint_pub, reason=self.broken)
                if sub in ready:
                    self._deliver(topic, sub.recv_multipart())
        finally:
            if superseded := _drain(sub, topic):
                self.superseded += superseded
                log.info("indications_superseded", endpoint=self.endpoint_pub,
                         dropped=superseded)
            sub.disable_monitor()
            monitor.close()
            sub.close()

    def _deliver(self, topic: bytes, frames: list[bytes]) -> None:
        if len(frames) != 2 or frames[0] != topic:
            return  # another subscription whose topic shares our prefix
        try:
            event = parse(pb.SubscriptionEvent, frames[1])
        except InvalidInput:
            self.unreadable += 1
            log.warning("indication_unreadable", endpoint=self.endpoint_pub,
                        dropped=self.unreadable)
            return
        if event.WhichOneof("event") == "indication":
            self.silence.heard()
            item = arrival(event.indication, len(frames[1]), self.limits)
            self.queue.put(item, item.nbytes)

    def next_indication(self, timeout_s: float) -> Received | None:
        """Next queued indication; TransportError once the node is gone and the queue drained."""
        ind = self.queue.get(timeout_s)
        if ind is not None:
            return receive(ind)
        if self.broken:
            raise TransportError(self.broken)
        self.silence.check()
        return None

    def control(self, request: ControlMsg, timeout_s: float) -> Acked:
        """Send a control and wait up to ``timeout_s`` s for the ack that echoes its header."""
        key = (request.header.node_id, request.header.sequence_number)

        def answers(payload: bytes) -> bool:
            try:
                ack = parse(pb.ControlAck, payload)
            except InvalidInput:
                return False
            return (ack.header.node_id, ack.header.sequence_number) == key

        sent = control_bytes(request)
        return acked(sent, self._request(b"control", sent, timeout_s, answers), request)

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        """Send a control without waiting; its ack comes back on the DEALER socket
        (:meth:`poll_acks`). The bytes sent."""
        sent = control_bytes(request)
        self._send(b"control", sent, timeout_s)
        return sent

    def poll_acks(self, timeout_s: float) -> list[AckEvent]:
        """The control acks waiting on the DEALER socket (up to ``timeout_s`` s for the
        first), keyed by their headers; other replies are stale and discarded."""
        out: list[AckEvent] = []
        wait_ms = _ms(timeout_s) if timeout_s > 0 else 0
        while self.dealer.poll(wait_ms):
            wait_ms = 0
            frames = self.dealer.recv_multipart()
            if len(frames) == 3 and frames[1] == b"control":
                out.append(AckEvent(_ack_key(frames[2]), frames[2]))
        return out

    def _send(self, kind: bytes, payload: bytes, timeout_s: float,
              abandon: threading.Event | None = None) -> None:
        """Send ``[b"", kind, payload]``; TransportError when the node is not connected."""
        try:
            steps = (timeout_s,) if abandon is None else wait_steps(timeout_s, abandon)
            if not any(self.dealer.poll(_ms(step), zmq.POLLOUT) for step in steps):
                raise zmq.Again()
            self.dealer.send_multipart([b"", kind, payload], zmq.NOBLOCK)
        except zmq.Again:
            hint = " (or the CURVE handshake failed: check curve_* keys)" if self.curve else ""
            raise TransportError(f"E2 node at {self.endpoint_ctl} unreachable "
                                 f"within {timeout_s:.1f} s{hint}") from None

    def _request(self, kind: bytes, payload: bytes, timeout_s: float,
                 answers: Callable[[bytes], bool],
                 abandon: threading.Event | None = None) -> bytes:
        """Send ``[b"", kind, payload]``; return the first reply payload ``answers`` accepts.
        ``abandon`` set: the wait ends at once with :class:`Abandoned`."""
        deadline = time.monotonic() + timeout_s
        self._send(kind, payload, timeout_s, abandon)
        for step in wait_steps(deadline - time.monotonic(), abandon):
            if not self.dealer.poll(_ms(step)):
                continue
            frames = self.dealer.recv_multipart()
            if len(frames) == 3 and frames[1] == kind and answers(frames[2]):
                return frames[2]
        raise TransportError(f"no answer to {kind.decode()} within {timeout_s:.1f} s")

    def _stop_reader(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None

    def close(self) -> None:
        """Stop the receive thread and close the control socket; indications still queued
        are dropped and counted as ``superseded`` (the loop that would read them is gone)."""
        try:
            self._stop_reader()
            self.superseded += self.queue.clear()
        finally:
            self.dealer.close()


def _drain(sub: zmq.Socket[bytes], topic: bytes) -> int:
    """Read out what ZeroMQ still holds in ``sub``; the number of indications on ``topic``.

    Frames are only counted, not parsed (each may be up to 64 MiB): a payload on our
    topic that starts with the ``indication`` field's tag is an indication. Stops after
    ``DRAIN_QUIET_MS`` without a frame or ``DRAIN_BUDGET_S`` in all.
    """
    count = 0
    deadline = time.monotonic() + DRAIN_BUDGET_S
    while time.monotonic() < deadline and sub.poll(DRAIN_QUIET_MS):
        frames = sub.recv_multipart()
        if len(frames) == 2 and frames[0] == topic and frames[1][:1] == INDICATION_TAG:
            count += 1
    return count


def _ack_key(payload: bytes) -> AckKey | None:
    """The (channel, node, sequence number) an ack's header names; None if unreadable."""
    try:
        h = parse(pb.ControlAck, payload).header
    except InvalidInput:
        return None
    return (h.channel_id, h.node_id, h.sequence_number)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
