"""The node against a hostile xApp (tests/sim/attacker_node.py), over both transports.

Each test repeats one attack of issue #19 (items 8-11) at a small size:
unauthorised controls, held subscriptions starving Control, abandoned
subscriptions leaking channels and queues, log amplification by a huge shape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import structlog
import zmq

from rrm.core.wire import e2_pb2 as pb
from rrm.sim.e2 import zmq_server
from rrm.sim.e2.admission import SubscriptionLimits
from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server
from rrm.sim.e2.listeners import MAX_PREFIXES
from rrm.sim.e2.zmq_server import ZmqE2Server, create_zmq_server
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import QueueFeed, Simulator
from tests.sim.attacker_node import GrpcAttacker, ZmqAttacker, control_request, modest_power

TRANSPORTS = ["grpc", "zmq"]


@dataclass
class Served:
    sim: Simulator
    transport: str
    address: tuple[str, int, int]
    zmq_server: ZmqE2Server | None = None

    def attacker(self, peers: int = 1) -> GrpcAttacker | ZmqAttacker:
        host, a, b = self.address
        return GrpcAttacker(f"{host}:{a}", peers) if self.transport == "grpc" else \
            ZmqAttacker(host, a, b, peers)


@contextmanager
def serving(transport: str, *, k: int = 4, period_s: float = 1.0, lockstep: bool = False,
            limits: SubscriptionLimits | None = None, idle_s: float = 30.0) -> Iterator[Served]:
    node = build_node(NodeSpec(num_links=k), "node-0", seed=1, slot_period_s=period_s)
    sim = Simulator([node], period_s, lockstep=lockstep, idle_timeout_s=idle_s)
    if transport == "grpc":
        server, port, health = create_grpc_server(sim, limits=limits)
        served, stop = Served(sim, transport, ("127.0.0.1", port, 0)), \
            lambda: stop_grpc_server(server, health, 0.1)
    else:
        zserver, pub, ctl = create_zmq_server(sim, limits=limits)
        served, stop = Served(sim, transport, ("127.0.0.1", pub, ctl), zserver), zserver.stop
    sim.start()
    try:
        yield served
    finally:
        sim.stop()
        stop()


class Client:
    """A well-behaved peer: subscribes, reads every indication, answers within its deadline."""

    def __init__(self, served: Served) -> None:
        self.peer = served.attacker()
        if isinstance(self.peer, GrpcAttacker):
            first, self.stream = self.peer.subscribe(timeout_s=60.0)
            self.next = lambda: next(self.stream).indication
        else:
            first = self.peer.subscribe()
            self.next = self.peer.next_indication
        assert first.HasField("ack"), first

    def answer(self, ind: pb.Indication, header: pb.Header | None = None) -> pb.ControlAck:
        ack = self.peer.control(control_request(header or ind.header, modest_power(ind)))
        assert ack is not None, "no ack within the deadline"
        return ack


def tampered(header: pb.Header, **fields: object) -> pb.Header:
    h = pb.Header()
    h.CopyFrom(header)
    for name, value in fields.items():
        setattr(h, name, value)
    return h


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controls_must_answer_an_open_subscription_of_this_node(transport: str) -> None:
    with serving(transport) as served:
        client = Client(served)
        ind = client.next()
        forged = {
            "empty channel": (tampered(ind.header, channel_id=""), pb.CAUSE_UNKNOWN_SUBSCRIPTION),
            "forged channel": (tampered(ind.header, channel_id="f" * 16),
                               pb.CAUSE_UNKNOWN_SUBSCRIPTION),
            "version 7": (tampered(ind.header, protocol_version=7), pb.CAUSE_UNSUPPORTED_VERSION),
            "slot off by 10^6": (tampered(ind.header, slot=ind.header.slot + 10**6),
                                 pb.CAUSE_STALE),
        }
        for name, (header, cause) in forged.items():
            ack = client.answer(ind, header)
            assert (ack.outcome, ack.cause) == (pb.OUTCOME_REJECTED, cause), name
        assert client.answer(ind).outcome == pb.OUTCOME_ACCEPTED  # the real one still goes in
        counters = served.sim.nodes["node-0"].counters
        assert counters["unknown_subscription"] == 2
        assert counters["unsupported_version"] == 1 and counters["stale"] == 1
        assert counters["accepted"] == 1
        client.peer.close()


def test_a_control_on_an_ended_subscription_is_refused() -> None:
    with serving("grpc") as served:
        client, other = Client(served), Client(served)
        ind = other.next()
        other.peer.close()  # its stream ends: its channel id is no longer valid
        deadline = time.monotonic() + 5
        while served.sim.open_channels > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        ack = client.answer(ind)
        assert (ack.outcome, ack.cause) == (pb.OUTCOME_REJECTED, pb.CAUSE_UNKNOWN_SUBSCRIPTION)
        client.peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_held_subscriptions_are_bounded_and_never_starve_control(transport: str) -> None:
    limits = SubscriptionLimits(max_total=4, max_per_peer=2, control_workers=2)
    with serving(transport, period_s=0.2, lockstep=True, limits=limits) as served:
        client = Client(served)
        attacker = served.attacker(peers=10)
        try:
            firsts = _hold(attacker, 20)  # more than the old 16-thread pool
            admitted = sum(f.HasField("ack") for f in firsts)
            refused = [f.failure.cause for f in firsts if f.HasField("failure")]
            assert admitted == 3 and refused == [pb.CAUSE_OVERLOAD] * 17
            accepted, t0 = 0, time.monotonic()
            for _ in range(20):
                ind = client.next()
                accepted += client.answer(ind).outcome == pb.OUTCOME_ACCEPTED
            assert accepted >= 18 and time.monotonic() - t0 < 15
        finally:
            attacker.close()
            client.peer.close()


def test_junk_zmq_topics_cost_the_node_nothing_per_turn() -> None:
    """A SUB listening to thousands of topics the node never opened (issue #19 item 9)."""
    with serving("zmq", period_s=0.2, lockstep=True) as served:
        client = Client(served)
        attacker = served.attacker()
        assert isinstance(attacker, ZmqAttacker) and served.zmq_server is not None
        subs = [attacker.ctx.socket(zmq.SUB) for _ in range(7)]
        try:
            for j, sub in enumerate(subs):  # one SUB delivers ~1,000 subscriptions at once
                sub.setsockopt(zmq.LINGER, 0)
                sub.connect(f"tcp://{served.address[0]}:{served.address[1]}")
                for i in range(1000):
                    sub.setsockopt(zmq.SUBSCRIBE, b"junk-%d-%d" % (j, i))
            listeners = served.zmq_server.listeners
            deadline = time.monotonic() + 20
            while listeners.forgotten < 7000 - MAX_PREFIXES and time.monotonic() < deadline:
                time.sleep(0.05)
            assert listeners.prefixes <= MAX_PREFIXES
            assert listeners.forgotten >= 7000 - MAX_PREFIXES
            accepted = sum(client.answer(client.next()).outcome == pb.OUTCOME_ACCEPTED
                           for _ in range(10))
            assert accepted >= 9  # the client's own prefix, the oldest, was kept
        finally:
            for sub in subs:
                sub.close()
            attacker.close()
            client.peer.close()


def test_the_zmq_node_sleeps_until_it_has_something_to_do() -> None:
    """Event-driven, not a 1 ms poll: a few wake-ups per slot (#18, #19)."""
    with serving("zmq", period_s=0.1) as served:
        client = Client(served)
        assert served.zmq_server is not None
        client.next()
        turns0, t0 = served.zmq_server.turns, time.monotonic()
        for _ in range(10):
            client.answer(client.next())
        per_s = (served.zmq_server.turns - turns0) / (time.monotonic() - t0)
        assert per_s < 100  # polling every 1 ms: ~1,000 per s
        client.peer.close()


def test_each_zmq_subscriber_gets_the_slot_under_its_own_channel() -> None:
    """One slot, serialized once, read by three subscribers: each sees its own channel id."""
    with serving("zmq", k=6, period_s=0.3) as served:
        clients = [Client(served) for _ in range(3)]
        target = max(c.next().header.sequence_number for c in clients) + 1
        fresh = []
        for client in clients:
            while (ind := client.next()).header.sequence_number < target:
                pass
            fresh.append(ind)
        assert {i.header.sequence_number for i in fresh} == {target}
        assert len({i.header.channel_id for i in fresh}) == 3
        assert len({i.d2d.gains.data for i in fresh}) == 1
        for client, ind in zip(clients, fresh, strict=True):  # each channel is its own
            assert client.answer(ind).cause != pb.CAUSE_UNKNOWN_SUBSCRIPTION
            client.peer.close()


def _hold(attacker: GrpcAttacker | ZmqAttacker, count: int) -> list[pb.SubscriptionEvent]:
    if isinstance(attacker, GrpcAttacker):
        return attacker.hold(count, stream_timeout_s=30.0)
    return [attacker.subscribe(peer=i % len(attacker.dealers)) for i in range(count)]


def test_one_zmq_identity_holds_at_most_its_share() -> None:
    limits = SubscriptionLimits(max_total=8, max_per_peer=2)
    with serving("zmq", limits=limits) as served:
        attacker = served.attacker(peers=1)
        try:
            firsts = _hold(attacker, 5)
            assert [f.HasField("ack") for f in firsts] == [True, True, False, False, False]
        finally:
            attacker.close()


def test_abandoned_grpc_subscriptions_are_closed_and_their_slots_freed() -> None:
    limits = SubscriptionLimits(max_total=3, max_per_peer=3, control_workers=2)
    with serving("grpc", k=200, period_s=0.02, limits=limits, idle_s=1.0) as served:
        attacker = served.attacker(peers=3)
        try:
            assert all(f.HasField("ack") for f in attacker.hold(3))  # never read again
            deadline = time.monotonic() + 15
            while served.sim.open_channels and time.monotonic() < deadline:
                time.sleep(0.1)
            assert served.sim.open_channels == 0
            time.sleep(1.0)  # the watchdog cancels the blocked streams; their slots come back
            fresh = served.attacker()
            first, _ = fresh.subscribe(timeout_s=5.0)
            assert first.HasField("ack"), first
            fresh.close()
        finally:
            attacker.close()


@pytest.mark.parametrize("listen", [True, False])
def test_abandoned_zmq_subscriptions_are_closed_and_their_slots_freed(
        listen: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10 over ZeroMQ: a subscription whose topic nobody (any longer) listens to is
    closed after ORPHAN_S, its channel and queue freed and its admission slot given back."""
    monkeypatch.setattr(zmq_server, "ORPHAN_S", 0.5)
    limits = SubscriptionLimits(max_total=3, max_per_peer=3)
    with serving("zmq", k=200, period_s=0.05, limits=limits) as served:
        attacker = served.attacker(peers=3)
        firsts = [attacker.subscribe(peer=i, listen=listen) for i in range(3)]
        assert all(f.HasField("ack") for f in firsts)
        attacker.close()  # the listening SUB goes away too: every topic is unheard
        deadline = time.monotonic() + 10
        while served.sim.open_channels and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.sim.open_channels == 0
        assert served.zmq_server is not None and not served.zmq_server.feeds
        assert served.zmq_server.gate.held == 0
        client = Client(served)  # a fresh subscriber is admitted and served
        assert client.next() is not None
        client.peer.close()


def test_a_feed_is_bounded_in_bytes_and_freed_when_closed() -> None:
    feed = QueueFeed(frozenset({"n"}), capacity=64, max_bytes=1 << 20)
    big = pb.Indication()
    big.d2d.gains.data = b"\0" * (300 << 10)  # 300 KiB each
    for _ in range(20):
        feed.put(big)
    assert feed.queued_bytes <= 1 << 20 and feed.dropped == 17
    feed.close()
    assert feed.queued_bytes == 0 and feed.get(0) is None
    feed.put(big)  # a closed feed takes nothing more
    assert feed.queued_bytes == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_huge_shape_costs_one_short_log_line(transport: str) -> None:
    with serving(transport) as served:
        client = Client(served)
        ind = client.next()
        huge = pb.Tensor(shape=[1] * 500_000, dtype=pb.DTYPE_FLOAT64, data=b"")
        with structlog.testing.capture_logs() as logs:
            t0 = time.monotonic()
            ack = client.peer.control(control_request(ind.header, huge))
            elapsed = time.monotonic() - t0
        assert ack is not None and ack.outcome == pb.OUTCOME_REJECTED
        assert ack.cause == pb.CAUSE_INVALID_MESSAGE and len(ack.detail) <= 200
        longest = max((len(str(v)) for e in logs for v in e.values()), default=0)
        assert any(e["event"] == "control_malformed" for e in logs)
        assert longest <= 200 and elapsed < 2.0
        client.peer.close()


def test_power_tensor_helper_round_trips() -> None:
    t = control_request(pb.Header(), np.arange(3.0)).power.power_w
    assert list(t.shape) == [3] and np.frombuffer(t.data, "<f8").tolist() == [0.0, 1.0, 2.0]
