"""One behaviour over both transports: the same suite runs on gRPC and ZeroMQ.

The node is a small fake NodeService (a queue-backed feed, recorded controls)
so that these tests prove the transports alone; the real simulator behind
both transports is exercised by tests/xapp/test_integration.py.
"""

from __future__ import annotations

import queue
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import zmq
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rrm.core.errors import ConfigError, InvalidInput, ProtocolMismatch
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_ack,
    decode_control,
    decode_indication,
    encode_indication,
    parse,
)
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    ControlMsg,
    Header,
    IndicationMsg,
    NodeInfo,
    Outcome,
    SubscribedMsg,
    SubscribeMsg,
)
from rrm.sim.e2.grpc_server import SERVICE_NAME, create_grpc_server, stop_grpc_server
from rrm.sim.e2.service import Subscription
from rrm.sim.e2.zmq_server import create_zmq_server
from rrm.xapp.transport import connect
from rrm.xapp.transport.base import QUEUE_SLOTS, Received, TransportError
from rrm.xapp.transport.grpc_client import wait_for_health

pytestmark = pytest.mark.timeout(30)
K = 5
T0_NS = 1_800_000_000_000_000_000  # a fixed wall clock, ns
SMALL = 64 << 10  # max_message_bytes of the node in the size-limit test


class FakeFeed:
    """IndicationFeed backed by a queue.Queue."""

    def __init__(self) -> None:
        self.q: queue.Queue[pb.Indication] = queue.Queue()
        self._closed = threading.Event()

    def get(self, timeout_s: float) -> pb.Indication | None:
        if self._closed.is_set():
            return None
        try:
            return self.q.get(timeout=timeout_s) if timeout_s > 0 else self.q.get_nowait()
        except queue.Empty:
            return None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()


def indication(seq: int, channel_id: str = "ch-1") -> pb.Indication:
    """A seeded d2d indication for slot ``seq`` (same bytes on every call)."""
    rng = np.random.default_rng(seq)
    gains = rng.uniform(1e-12, 1e-10, (K, K)) + np.diag(rng.uniform(1e-9, 1e-8, K))
    now = T0_NS + seq * 10_000_000  # 10 ms slots
    header = Header("n0", seq, seq, now, now + 10_000_000, channel_id)
    state = InterferenceState(gains, 1e-13, np.full(K, 0.01))
    return encode_indication(IndicationMsg(header, "d2d", state))


class FakeNode:
    """NodeService that preloads ``preload`` indications and records what it is asked."""

    def __init__(self, preload: int = 0) -> None:
        self.preload = preload
        self.feeds: list[FakeFeed] = []
        self.requests: list[SubscribeMsg] = []
        self.controls: list[ControlMsg] = []
        self.malformed: list[str] = []

    def subscribe(self, request: SubscribeMsg) -> Subscription:
        self.requests.append(request)
        feed = FakeFeed()
        channel = f"ch-{len(self.feeds) + 1}"
        for seq in range(self.preload):  # queued before the ack goes out
            feed.q.put(indication(seq, channel))
        self.feeds.append(feed)
        ack = SubscribedMsg(channel, request.transaction_id, (NodeInfo("n0", "d2d", K),))
        return Subscription(ack, feed)

    def control(self, request: ControlMsg) -> AckMsg:
        self.controls.append(request)
        return AckMsg(request.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                      applied_slot=request.header.slot + 1, rates=np.arange(K) / 10.0,
                      utility=1.25, realised=True)

    def malformed_control(self, detail: str) -> None:
        self.malformed.append(detail)

    def publish(self, first: int, count: int) -> None:
        feed = self.feeds[-1]
        for seq in range(first, first + count):
            feed.q.put(indication(seq))


class Served:
    """A FakeNode behind one transport on 127.0.0.1 (port 0 unless ``ports`` given)."""

    def __init__(self, transport: str, node: FakeNode, max_message_bytes: int = 64 << 20,
                 ports: tuple[int, ...] = (0, 0)) -> None:
        self.transport, self.node, self.running = transport, node, True
        if transport == "grpc":
            self.server, port, self.health = create_grpc_server(
                node, f"127.0.0.1:{ports[0]}", max_message_bytes)
            self.ports: tuple[int, ...] = (port,)
        else:
            self.zserver, pub, ctl = _bind_retrying(node, ports, max_message_bytes)
            self.ports = (pub, ctl)
        self.address = ":".join(["127.0.0.1", *map(str, self.ports)])

    def stop(self) -> None:
        if self.running:
            self.running = False
            if self.transport == "grpc":
                stop_grpc_server(self.server, self.health, grace_s=0)
            else:
                self.zserver.stop()


def _bind_retrying(node: FakeNode, ports: tuple[int, ...], max_message_bytes: int):  # noqa: ANN202
    """ZeroMQ closes listeners asynchronously: rebinding a just-freed port may need a retry."""
    deadline = time.monotonic() + 3.0
    while True:
        try:
            return create_zmq_server(node, "127.0.0.1", ports[0], ports[1], max_message_bytes)
        except InvalidInput:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(params=["grpc", "zmq"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(transport: str):  # noqa: ANN201
    """Factory: serve a FakeNode; every server is stopped at teardown."""
    started: list[Served] = []

    def start(node: FakeNode, **kwargs: object) -> Served:
        started.append(Served(transport, node, **kwargs))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def clients():  # noqa: ANN201
    """Factory: connect a client; every client is closed at teardown."""
    opened = []

    def open_client(served: Served):  # noqa: ANN202
        opened.append(connect(served.transport, served.address))
        return opened[-1]

    yield open_client
    for c in opened:
        c.close()


def control_for(raw: Received, power: np.ndarray | None = None) -> ControlMsg:
    power = np.full(K, 0.005) if power is None else power
    return ControlMsg(raw.header, PowerAllocation(power), "test", "v0")


def drain(client, count: int) -> list[Received]:  # noqa: ANN001
    out: list[Received] = []
    for _ in range(count):
        raw = client.next_indication(2.0)
        assert raw is not None, f"indication {len(out)} of {count} never arrived"
        out.append(raw)
    return out


def test_stream_opens_with_the_ack_then_every_indication_complete_and_in_order(serve, clients):
    served = serve(FakeNode(preload=5))
    client = clients(served)
    ack = client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    assert (ack.channel_id, ack.transaction_id) == ("ch-1", "tx-1")
    assert ack.nodes == (NodeInfo("n0", "d2d", K),)
    served.node.publish(5, 3)
    received = drain(client, 8)
    assert [r.message for r in received] == [indication(seq, "ch-1") for seq in range(5)] + [
        indication(seq) for seq in range(5, 8)]
    assert all(r.indication is not None and r.refusal is None for r in received)
    assert client.next_indication(0.05) is None


def test_control_round_trip_returns_the_services_ack(serve, clients):
    served = serve(FakeNode(preload=1))
    client = clients(served)
    client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    raw = client.next_indication(2.0)
    power = np.linspace(0.001, 0.01, K)
    acked = client.control(control_for(raw, power), timeout_s=2.0)
    ack = acked.ack
    (seen,) = served.node.controls
    assert seen.header == decode_indication(raw.message).header == raw.header
    sent = decode_control(parse(pb.ControlRequest, acked.sent))  # the bytes that went out
    assert sent.header == seen.header and sent.decision.power_w.tobytes() == power.tobytes()
    assert decode_ack(parse(pb.ControlAck, acked.received)).header == seen.header
    assert isinstance(seen.decision, PowerAllocation)
    np.testing.assert_array_equal(seen.decision.power_w, power)
    assert (seen.policy, seen.model_version) == ("test", "v0")
    assert ack.outcome == Outcome.ACCEPTED and ack.header == seen.header
    assert (ack.applied_slot, ack.utility, ack.realised) == (1, 1.25, True)
    np.testing.assert_array_equal(ack.rates, np.arange(K) / 10.0)


def test_protocol_version_mismatch_names_both_versions(serve, clients):
    served = serve(FakeNode())
    client = clients(served)
    with pytest.raises(ProtocolMismatch) as err:
        client.subscribe(SubscribeMsg("x1", transaction_id="tx-9", protocol_version=7))
    assert "v1" in str(err.value) and "v7" in str(err.value)
    assert served.node.requests == []


def send_raw_control(served: Served, payload: bytes) -> pb.ControlAck | None:
    """Send ``payload`` as a control on the wire; the ack, or None on a gRPC error status."""
    if served.transport == "grpc":
        with grpc.insecure_channel(served.address) as channel:
            call = channel.unary_unary("/rrm.e2.v1.E2Node/Control",
                                       request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
            try:
                return parse(pb.ControlAck, call(payload, timeout=2.0))
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.INTERNAL
                return None
    return parse(pb.ControlAck, zmq_exchange(served, [b"", b"control", payload])[2])


def zmq_exchange(served: Served, frames: list[bytes]) -> list[bytes]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://127.0.0.1:{served.ports[1]}")
        sock.send_multipart(frames)
        assert sock.poll(2000), "the node did not answer"
        return sock.recv_multipart()
    finally:
        sock.close()


def assert_still_serving(served: Served, clients) -> None:  # noqa: ANN001
    client = clients(served)
    client.subscribe(SubscribeMsg("x2", transaction_id="tx-after"))
    served.node.publish(100, 1)
    (raw,) = drain(client, 1)
    assert client.control(control_for(raw), timeout_s=2.0).ack.outcome == Outcome.ACCEPTED


def test_malformed_control_is_counted_refused_and_the_server_survives(serve, clients):
    served = serve(FakeNode())
    garbage = send_raw_control(served, b"\xff\xfe garbage \x00")
    if garbage is not None:  # gRPC answers bytes it cannot parse with INTERNAL instead
        assert (garbage.outcome, garbage.cause) == (pb.OUTCOME_REJECTED, pb.CAUSE_INVALID_MESSAGE)
    invalid = pb.ControlRequest(policy="no-decision")
    invalid.header.node_id, invalid.header.sequence_number = "n0", 42
    ack = send_raw_control(served, invalid.SerializeToString())
    assert ack is not None and (ack.outcome, ack.cause) == (pb.OUTCOME_REJECTED,
                                                            pb.CAUSE_INVALID_MESSAGE)
    assert (ack.header.node_id, ack.header.sequence_number) == ("n0", 42)
    assert len(served.node.malformed) == (2 if garbage is not None else 1)
    assert served.node.controls == []
    assert_still_serving(served, clients)


@pytest.mark.parametrize("frames", [[b"", b"reboot", b"now"], [b"", b"control"],
                                    [b"not-empty", b"control", b"x"]])
def test_zmq_unknown_kinds_and_bad_framing_are_rejected(frames, clients):
    node = FakeNode()
    served = Served("zmq", node)
    try:
        reply = zmq_exchange(served, frames)
        ack = parse(pb.ControlAck, reply[-1])
        assert (ack.outcome, ack.cause) == (pb.OUTCOME_REJECTED, pb.CAUSE_INVALID_MESSAGE)
        assert len(node.malformed) == 1
        assert_still_serving(served, clients)
    finally:
        served.stop()


def test_zmq_node_holds_indications_until_their_topic_has_a_subscriber():
    node = FakeNode(preload=3)
    served = Served("zmq", node)
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        request = pb.SubscriptionRequest(protocol_version=1, xapp_id="raw", transaction_id="late")
        reply = zmq_exchange(served, [b"", b"subscribe", request.SerializeToString()])
        assert parse(pb.SubscriptionEvent, reply[2]).ack.transaction_id == "late"
        time.sleep(0.2)  # the node has had time to publish to nobody
        sub.setsockopt(zmq.SUBSCRIBE, b"late")
        sub.connect(f"tcp://127.0.0.1:{served.ports[0]}")
        got = []
        while len(got) < 3 and sub.poll(2000):
            topic, payload = sub.recv_multipart()
            event = parse(pb.SubscriptionEvent, payload)
            got.append((topic, event.indication.header.sequence_number))
        assert got == [(b"late", 0), (b"late", 1), (b"late", 2)]
    finally:
        sub.close()
        served.stop()


def test_node_stopping_breaks_the_client_in_bounded_time_and_a_new_node_resubscribes(
        serve, clients):
    served = serve(FakeNode(preload=1))
    client = clients(served)
    client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    (raw,) = drain(client, 1)
    served.stop()
    start = time.monotonic()
    with pytest.raises(TransportError):
        while time.monotonic() - start < 8:
            client.next_indication(0.2)
    with pytest.raises(TransportError):
        client.control(control_for(raw), timeout_s=0.5)
    assert time.monotonic() - start < 8
    again = serve(FakeNode(preload=2), ports=served.ports)
    fresh = clients(again)
    assert fresh.subscribe(SubscribeMsg("x1", transaction_id="tx-1")).channel_id == "ch-1"
    assert [r.header.sequence_number for r in drain(fresh, 2)] == [0, 1]


def test_a_message_above_max_message_bytes_is_refused_and_the_server_survives(
        serve, clients):
    served = serve(FakeNode(preload=1), max_message_bytes=SMALL)
    client = clients(served)
    client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    (raw,) = drain(client, 1)
    too_big = np.full(SMALL // 8 + 1000, 0.001)  # float64 power vector over the limit
    with pytest.raises(TransportError):
        client.control(control_for(raw, too_big), timeout_s=0.5)
    assert served.node.controls == []
    assert_still_serving(served, clients)


def test_a_full_queue_drops_the_oldest_indications_and_counts_them(serve, clients):
    served = serve(FakeNode())
    client = clients(served)
    client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    # in chunks of 8, each awaited until the client holds or dropped it: the ZeroMQ node queues
    # at most PUB_HWM (16) per SUB and drops the rest unsent (uncounted here) when the client's
    # receive thread is not scheduled for a few ms on a loaded host
    total = QUEUE_SLOTS + 10
    for first in range(0, total, 8):
        served.node.publish(first, min(8, total - first))
        deadline = time.monotonic() + 20
        while len(client.queue) + client.dropped < min(first + 8, total):
            assert time.monotonic() < deadline, "indications never reached the client"
            time.sleep(0.005)
    assert client.dropped == 10
    seqs = [r.header.sequence_number for r in drain(client, QUEUE_SLOTS)]
    assert seqs == list(range(10, QUEUE_SLOTS + 10))


def test_grpc_health_reports_serving_for_the_server_and_the_e2_service():
    served = Served("grpc", FakeNode())
    try:
        wait_for_health(served.address, timeout_s=2.0)
        with grpc.insecure_channel(served.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE_NAME):
                reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2.0)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        served.stop()
    with pytest.raises(TransportError, match="not SERVING"):
        wait_for_health(served.address, timeout_s=0.3)


@pytest.mark.parametrize("transport_name, address", [
    ("grpc", "127.0.0.1"), ("grpc", ":50051"), ("grpc", "host:port"), ("grpc", "h:70000"),
    ("zmq", "127.0.0.1:5556"), ("zmq", "h:1:x"), ("zmq", "h:0:5557"), ("udp", "h:1"),
])
def test_bad_addresses_are_config_errors(transport_name, address):
    with pytest.raises(ConfigError, match="must"):
        connect(transport_name, address)


def free_port() -> int:
    """A port nothing listens on (bound a moment ago, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_node_is_a_transport_error(transport, monkeypatch):
    import rrm.xapp.transport.grpc_client as grpc_client
    import rrm.xapp.transport.zmq_client as zmq_client

    monkeypatch.setattr(grpc_client, "CONNECT_TIMEOUT_S", 0.3)
    monkeypatch.setattr(zmq_client, "SUBSCRIBE_TIMEOUT_S", 0.3)
    port = free_port()
    address = f"127.0.0.1:{port}" if transport == "grpc" else f"127.0.0.1:{port}:{port}"
    client = connect(transport, address)
    try:
        with pytest.raises(TransportError, match="unreachable"):
            client.subscribe(SubscribeMsg("x1", transaction_id="tx-1"))
    finally:
        client.close()
