"""A hostile E2 node, written from the proto: gRPC and ZeroMQ, on the generated stubs alone.

Nothing of the simulator's servers, the codec or the fuzz tests is used: the
messages are built field by field from ``rrm.core.wire.e2_pb2``, so what the
xApp is tested against is what the proto allows, not what our own encoder
happens to produce. A :class:`Script` says what the node does: how it answers
the subscription (or never does), which indications it streams, and what
ack it returns for each control. The node counts every control by
``(channel, node, sequence number)``: more than one is an indication
answered twice.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np
import zmq

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire import e2_pb2_grpc

CHANNEL = "real-channel"


def tensor(shape: tuple[int, ...], dtype: int = pb.DTYPE_FLOAT64, data: bytes | None = None,
           fill: float = 1e-9) -> pb.Tensor:
    """A wire tensor; ``data`` defaults to ``fill`` repeated (float64 only)."""
    if data is None:
        data = np.full(shape, fill, dtype="<f8").tobytes()
    return pb.Tensor(shape=list(shape), dtype=dtype, data=data)  # type: ignore[arg-type]


def d2d(node: str, seq: int, channel: str = CHANNEL, k: int = 4,
        deadline_s: float = 1.0) -> pb.Indication:
    """A well-formed d2d indication of K links (direct gains 1e-9, cross 1e-12)."""
    now = time.time_ns()
    gains = np.full((k, k), 1e-12) + np.eye(k) * 1e-9
    m = pb.Indication(header=pb.Header(protocol_version=pb.PROTOCOL_VERSION_1, node_id=node,
                                       channel_id=channel, slot=seq % (1 << 63),
                                       sequence_number=seq, timestamp_ns=now,
                                       deadline_ns=now + int(deadline_s * 1e9)))
    m.d2d.gains.CopyFrom(tensor((k, k), data=gains.astype("<f8").tobytes()))
    m.d2d.noise_w = 1e-13
    m.d2d.pmax_w.CopyFrom(tensor((k,), fill=0.01))
    return m


def cellfree(node: str, seq: int, b: int, k: int, m_ant: int,
             channel: str = CHANNEL) -> pb.Indication:
    """A cell-free indication of B APs, K UEs, M antennas (complex128 h)."""
    now = time.time_ns()
    h = np.full((b, k, m_ant), 1e-6 + 1e-7j, dtype="<c16")
    m = pb.Indication(header=pb.Header(protocol_version=pb.PROTOCOL_VERSION_1, node_id=node,
                                       channel_id=channel, slot=seq, sequence_number=seq,
                                       timestamp_ns=now, deadline_ns=now + 10**9))
    c = m.cellfree
    c.h.CopyFrom(tensor((b, k, m_ant), pb.DTYPE_COMPLEX128, h.tobytes()))
    c.noise_w, c.bandwidth_hz = 1e-13, 1e7
    c.pmax_w.CopyFrom(tensor((b,), fill=1.0))
    c.fronthaul_bps.CopyFrom(tensor((b,), fill=1e3))  # tiny: every answer overloads
    return m


def honest_ack(request: pb.ControlRequest) -> pb.ControlAck:
    """What a correct node answers: the request's header echoed, accepted."""
    return pb.ControlAck(header=request.header, outcome=pb.OUTCOME_ACCEPTED,
                         applied_source=pb.APPLIED_SOURCE_CONTROL, realised=True, utility=1.0)


def subscription_ack(request: pb.SubscriptionRequest, channel: str = CHANNEL,
                     version: int = pb.PROTOCOL_VERSION_1, transaction: str | None = None,
                     period_ms: int = 10) -> pb.SubscriptionEvent:
    """The subscription ack (transaction id echoed unless ``transaction`` is given)."""
    txn = request.transaction_id if transaction is None else transaction
    return pb.SubscriptionEvent(ack=pb.SubscriptionAck(
        channel_id=channel, transaction_id=txn, protocol_version=version,  # type: ignore[arg-type]
        nodes=[pb.NodeInfo(node_id="n0", scenario=pb.SCENARIO_D2D, num_links=4,
                           slot_period_ms=period_ms)]))


@dataclass
class Script:
    """What the hostile node does.

    Attributes:
        ack: the subscription's first event, or None to never answer it.
        indications: what is streamed after the ack (called once per subscription).
        control_ack: the ack returned for each control.
        period_s: pause between two indications, s (0: as fast as possible).
        end_stream: close the stream after the indications (else hold it open).
    """

    ack: Callable[[pb.SubscriptionRequest], pb.SubscriptionEvent | None] = subscription_ack
    indications: Callable[[], Iterable[pb.Indication]] = lambda: ()
    control_ack: Callable[[pb.ControlRequest], pb.ControlAck] = honest_ack
    period_s: float = 0.0
    end_stream: bool = False


@dataclass
class Tally:
    """What the node saw."""

    subscriptions: int = 0
    sent: int = 0
    # ZeroMQ: published while no SUB filter matched the topic; a PUB sends those to no
    # socket at all (known from the XPUB's (un)subscription messages)
    unheard: int = 0
    controls: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def control(self, request: pb.ControlRequest) -> None:
        h = request.header
        with self.lock:
            self.controls[(h.channel_id, h.node_id, h.sequence_number)] += 1

    @property
    def answered_twice(self) -> int:
        """Indications that got more than one control."""
        return sum(1 for n in self.controls.values() if n > 1)


class _Servicer(e2_pb2_grpc.E2NodeServicer):
    def __init__(self, script: Script, tally: Tally) -> None:
        self.script, self.tally = script, tally

    def Subscribe(self, request, context):  # noqa: ANN001, ANN201, N802 - generated API
        self.tally.subscriptions += 1
        first = self.script.ack(request)
        if first is None:  # hold the stream without ever answering
            while context.is_active():
                time.sleep(0.05)
            return
        yield first
        for ind in self.script.indications():
            yield pb.SubscriptionEvent(indication=ind)
            self.tally.sent += 1
            if self.script.period_s:
                time.sleep(self.script.period_s)
        self.tally.finished.set()
        while not self.script.end_stream and context.is_active():
            time.sleep(0.05)

    def Control(self, request, context):  # noqa: ANN001, ANN201, N802 - generated API
        self.tally.control(request)
        return self.script.control_ack(request)


class HostileGrpcNode:
    """The hostile node over gRPC on 127.0.0.1 (``address``)."""

    def __init__(self, script: Script) -> None:
        self.tally = Tally()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                  options=[("grpc.max_send_message_length", 128 << 20)])
        e2_pb2_grpc.add_E2NodeServicer_to_server(_Servicer(script, self.tally), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(grace=None)


class HostileZmqNode:
    """The hostile node over ZeroMQ: XPUB for indications, ROUTER for requests."""

    def __init__(self, script: Script) -> None:
        self.script, self.tally = script, Tally()
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.XPUB)
        self.router = self.ctx.socket(zmq.ROUTER)
        for s in (self.pub, self.router):
            s.setsockopt(zmq.LINGER, 0)
        pub_port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        ctl_port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"127.0.0.1:{pub_port}:{ctl_port}"
        self._stop = threading.Event()
        self._topics: set[bytes] = set()
        self._pending: list[bytes] = []  # topics acked, waiting for their SUB filter
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.pub, zmq.POLLIN)
        poller.register(self.router, zmq.POLLIN)
        while not self._stop.is_set():
            ready = dict(poller.poll(50))
            if self.pub in ready:
                self._filters()
            if self.router in ready:
                self._request(self.router.recv_multipart())
            for topic in [t for t in self._pending if t in self._topics]:
                self._pending.remove(topic)
                self._stream(topic)

    def _filters(self) -> None:
        """Track which topics some SUB listens to (the XPUB reports the first subscriber
        of a topic and the last one leaving)."""
        while self.pub.poll(0):
            msg = self.pub.recv()
            if msg[:1] == b"\x01":
                self._topics.add(msg[1:])
            elif msg[:1] == b"\x00":
                self._topics.discard(msg[1:])

    def _request(self, frames: list[bytes]) -> None:
        identity, _, kind, payload = frames
        if kind == b"subscribe":
            request = pb.SubscriptionRequest.FromString(payload)
            self.tally.subscriptions += 1
            first = self.script.ack(request)
            if first is not None:
                self.router.send_multipart([identity, b"", kind, first.SerializeToString()])
                self._pending.append(request.transaction_id.encode())
        elif kind == b"control":
            request = pb.ControlRequest.FromString(payload)
            self.tally.control(request)
            ack = self.script.control_ack(request).SerializeToString()
            self.router.send_multipart([identity, b"", kind, ack])

    def _stream(self, topic: bytes) -> None:
        """Publish the script's indications (controls are answered between them)."""
        for ind in self.script.indications():
            if self._stop.is_set():
                return
            event = pb.SubscriptionEvent(indication=ind).SerializeToString()
            self._filters()
            self.tally.unheard += topic not in self._topics
            self.pub.send_multipart([topic, event])
            self.tally.sent += 1
            while self.router.poll(0):
                self._request(self.router.recv_multipart())
            if self.script.period_s:
                time.sleep(self.script.period_s)
        self.tally.finished.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pub.close()
        self.router.close()
        self.ctx.term()


def hostile_node(transport: str, script: Script) -> HostileGrpcNode | HostileZmqNode:
    """The hostile node for ``transport`` ('grpc' or 'zmq'), serving ``script``."""
    return HostileGrpcNode(script) if transport == "grpc" else HostileZmqNode(script)


def overflowing_shape_rates() -> pb.Tensor:
    """A rates tensor whose shape product overflows 64 bits (uint32 dims; no data)."""
    return pb.Tensor(shape=[(1 << 32) - 1] * 3, dtype=pb.DTYPE_FLOAT64, data=b"")


def unknown_dtype_rates() -> pb.Tensor:
    """A rates tensor with a dtype code the proto does not define."""
    return pb.Tensor(shape=[4], dtype=99, data=struct.pack("<4d", 1, 2, 3, 4))  # type: ignore[arg-type]
