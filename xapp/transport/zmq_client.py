"""ZeroMQ client of an E2 node: SUB for indications, DEALER for subscription and control.

A DEALER (not REQ) socket carries requests, so a timed-out request does not
wedge the socket: replies are matched to requests by the echoed header
(node id and sequence number) and stale replies are discarded.
"""

from __future__ import annotations

import threading
import time

import zmq

from sim.e2 import e2_pb2 as pb
from sim.e2.codec import (
    decode_ack,
    decode_subscription_reply,
    encode_control,
    encode_subscribe,
    parse,
)
from sim.e2.freshness import DropOldestQueue
from sim.e2.messages import AckMsg, Cause, ControlMsg, SubscribedMsg, SubscribeMsg
from sim.errors import InvalidInput, ProtocolMismatch
from xapp.transport.base import TransportError

QUEUE_SLOTS = 64
SUBSCRIBE_TIMEOUT_S = 5.0
SUB_SETTLE_S = 0.05  # let the SUB connection and topic filter reach the publisher
SILENCE_S = 3.0  # no indication for this long means the node is gone


class ZmqE2Client:
    """:class:`xapp.transport.base.E2Client` over ZeroMQ."""

    def __init__(self, host: str, pub_port: int, ctl_port: int,
                 max_message_bytes: int = 64 << 20) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.endpoint_pub = f"tcp://{host}:{pub_port}"
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.dealer.connect(f"tcp://{host}:{ctl_port}")
        self.max_message_bytes = max_message_bytes
        self.queue: DropOldestQueue[pb.Indication] = DropOldestQueue(QUEUE_SLOTS)
        self.broken = ""
        self.last_heard = time.monotonic()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Subscribe the SUB socket to our topic first, then ask the node."""
        if not request.transaction_id:
            raise TransportError("ZeroMQ subscriptions need a transaction id")
        topic = request.transaction_id.encode()
        self._reader = threading.Thread(target=self._read, args=(topic,), daemon=True,
                                        name="e2-zmq-reader")
        self._reader.start()
        time.sleep(SUB_SETTLE_S)
        payload = self._request(b"subscribe", encode_subscribe(request).SerializeToString(),
                                SUBSCRIBE_TIMEOUT_S, lambda _: True)
        reply = decode_subscription_reply(parse(pb.SubscriptionEvent, payload))
        if not isinstance(reply, SubscribedMsg):
            if reply.cause == Cause.UNSUPPORTED_VERSION:
                raise ProtocolMismatch(reply.detail)
            raise TransportError(f"subscription refused ({reply.cause.name}): {reply.detail}")
        self.last_heard = time.monotonic()
        return reply

    def _read(self, topic: bytes) -> None:
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(self.endpoint_pub)
        try:
            while not self._stop.is_set():
                if not sub.poll(100):
                    continue
                frames = sub.recv_multipart()
                if len(frames) != 2 or frames[0] != topic:
                    continue
                try:
                    event = parse(pb.SubscriptionEvent, frames[1])
                except InvalidInput:
                    continue
                if event.WhichOneof("event") == "indication":
                    self.last_heard = time.monotonic()
                    self.queue.put(event.indication)
        finally:
            sub.close()

    def next_indication(self, timeout_s: float) -> pb.Indication | None:
        """Next indication; TransportError after SILENCE_S without one (node gone)."""
        ind = self.queue.get(timeout_s)
        if ind is None and time.monotonic() - self.last_heard > SILENCE_S:
            raise TransportError(f"no indication for {SILENCE_S:.0f} s")
        return ind

    def control(self, request: ControlMsg, timeout_s: float) -> AckMsg:
        """Send a control and wait for the ack that echoes its header."""
        key = (request.header.node_id, request.header.sequence_number)

        def matches(payload: bytes) -> bool:
            try:
                ack = parse(pb.ControlAck, payload)
            except InvalidInput:
                return False
            return (ack.header.node_id, ack.header.sequence_number) == key

        try:
            wire = encode_control(request).SerializeToString()
        except InvalidInput as err:
            raise TransportError(f"control could not be encoded: {err}") from None
        payload = self._request(b"control", wire, timeout_s, matches)
        return decode_ack(parse(pb.ControlAck, payload))

    def _request(self, kind: bytes, payload: bytes, timeout_s: float, matches) -> bytes:  # noqa: ANN001
        self.dealer.send_multipart([b"", kind, payload])
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.dealer.poll(int(left * 1000) + 1):
                break
            frames = self.dealer.recv_multipart()
            if len(frames) == 3 and frames[1] == kind and matches(frames[2]):
                return frames[2]
        raise TransportError(f"no answer to {kind.decode()} within {timeout_s:.1f} s")

    def close(self) -> None:
        """Stop the reader and close the control socket."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2)
        self.dealer.close()
