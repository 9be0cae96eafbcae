"""The slot loop with pipelined controls and a batching window (#18): one answer per
indication whatever its ack does, lost acks counted, the window gathers the other nodes'
indications and never waits past a deadline. Deterministic arrivals, a fake clock."""

import threading
import time

import numpy as np

from rrm.core.types import InterferenceState
from rrm.core.wire.codec import encode_ack, encode_indication
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Header,
    IndicationMsg,
    Outcome,
    SubscribeMsg,
)
from rrm.models.policy import make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.admission import Costs
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.base import receive
from rrm.xapp.transport.inflight import AckEvent, key_of
from rrm.xapp.transport.inproc import InProcessClient
from tests.xapp.test_batching import BatchingPolicy


def decider(policy=None) -> Decider:
    return Decider(policy or make_policy("full-reuse"), make_policy("wmmse"), GuardConfig(),
                   "sum")


class LossyClient(InProcessClient):
    """In-process, but the acks of odd sequence numbers never come back."""

    def __init__(self, service) -> None:
        super().__init__(service)
        self.sent: list[tuple[str, int]] = []

    def send_control(self, request, timeout_s):
        self.sent.append((request.header.node_id, request.header.sequence_number))
        return super().send_control(request, timeout_s)

    def poll_acks(self, timeout_s):
        return [e for e in super().poll_acks(timeout_s) if e.key and e.key[2] % 2 == 0]


def test_lost_acks_are_counted_and_every_indication_is_answered_once():
    nodes = [build_node(NodeSpec(num_links=4), f"n{i}", seed=i, slot_period_s=0.5)
             for i in range(3)]
    sim = Simulator(nodes, slot_period_s=0.5, lockstep=True)
    client = LossyClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    d, metrics = decider(), XAppMetrics()
    loop = SlotLoop(client, d, metrics, HealthState())
    loop.pipe.ack_timeout_s = 0.0  # a missing ack is lost as soon as it is looked for
    sim.start()
    try:
        loop.run(threading.Event(), max_slots=12)
    finally:
        sim.stop()
        d.close()
    assert len(client.sent) == len(set(client.sent)) == loop.stats.slots == 12
    odd = sum(1 for _, seq in client.sent if seq % 2)
    assert odd > 0 and loop.stats.dropped["ack_lost"] == odd
    assert metrics.registry.get_sample_value("rrm_xapp_dropped_total",
                                             {"reason": "ack_lost"}) == odd
    assert len(loop.stats.utility["realised"]) == 12 - odd  # only acks that came count
    assert len(loop.pipe) == 0


class Scripted:
    """Indications that arrive at set times on a fake clock; acks at once."""

    def __init__(self, arrivals: list[tuple[float, str, float]]) -> None:
        self.now_ns = time.time_ns()
        self.t0 = self.now_ns
        self.arrivals = sorted(arrivals)  # (arrival s, node, deadline s), from t0
        self.seq: dict[str, int] = {}
        self.acks: list[AckEvent] = []
        self.waits: list[float] = []

    def clock_ns(self) -> int:
        return self.now_ns

    def next_indication(self, timeout_s):
        self.waits.append(timeout_s)
        if not self.arrivals:
            self.now_ns += int(timeout_s * 1e9)
            return None
        at_ns = self.t0 + int(self.arrivals[0][0] * 1e9)
        if at_ns > self.now_ns + timeout_s * 1e9:
            self.now_ns += int(timeout_s * 1e9)
            return None
        self.now_ns = max(self.now_ns, at_ns)
        _, node, deadline_s = self.arrivals.pop(0)
        seq = self.seq[node] = self.seq.get(node, 0) + 1
        k = 4
        deadline_ns = self.t0 + int(deadline_s * 1e9) if deadline_s else 0
        return receive(encode_indication(IndicationMsg(
            Header(node, seq, seq, self.now_ns, deadline_ns, "c"), "d2d",
            InterferenceState(np.eye(k) * 1e-9 + 1e-12, 1e-13, np.full(k, 0.01)))))

    def send_control(self, request, timeout_s):
        ack = AckMsg(request.header, Outcome.ACCEPTED, AppliedSource.CONTROL)
        self.acks.append(AckEvent(key_of(request), encode_ack(ack).SerializeToString()))
        return b""

    def poll_acks(self, timeout_s):
        acks, self.acks = self.acks, []
        return acks


def scripted_loop(arrivals, window_s, nodes=frozenset()):
    client = Scripted(arrivals)
    policy = BatchingPolicy()
    loop = SlotLoop(client, decider(policy), XAppMetrics(), HealthState(),  # type: ignore[arg-type]
                    node_ids=nodes, batch_window_s=window_s, clock_ns=client.clock_ns)
    return client, policy, loop


def test_the_window_gathers_the_other_nodes_indications_into_one_pass():
    # three nodes, 1 ms apart: without a window each would be decided alone
    arrivals = [(0.000, "a", 0), (0.001, "b", 0), (0.002, "c", 0)]
    client, policy, loop = scripted_loop(arrivals, 0.005, frozenset("abc"))
    loop.run(threading.Event(), max_slots=3)
    assert policy.batches == [3] and loop.stats.controls == 3
    assert client.now_ns - client.t0 == 2_000_000  # stopped once every node was in


def test_without_a_window_only_what_is_queued_is_batched():
    arrivals = [(0.000, "a", 0), (0.001, "b", 0), (0.002, "c", 0)]
    _, policy, loop = scripted_loop(arrivals, 0.0, frozenset("abc"))
    loop.run(threading.Event(), max_slots=3)
    assert max(policy.batches, default=1) == 1 and loop.stats.controls == 3


def test_the_window_ends_when_it_ends():
    arrivals = [(0.000, "a", 0), (0.010, "b", 0)]  # b comes after the 2 ms window
    client, policy, loop = scripted_loop(arrivals, 0.002, frozenset("ab"))
    loop.run(threading.Event(), max_slots=2)
    assert max(policy.batches, default=1) == 1 and loop.stats.slots == 2
    assert client.waits[:3] == [0.2, 0.0, 0.002]  # first poll, the queue, the window


def test_the_window_never_waits_past_the_earliest_deadline():
    # a's deadline is 3 ms away: the 50 ms window is cut there (less the batch's cost)
    arrivals = [(0.000, "a", 0.003), (0.020, "b", 0)]
    client, _, loop = scripted_loop(arrivals, 0.050, frozenset("ab"))
    loop.costs = Costs(answer_s=0.0005)  # measured: 0.5 ms per answer
    loop.run(threading.Event(), max_slots=1)
    waited_s = (client.now_ns - client.t0) / 1e9
    assert waited_s <= 0.003 - 2 * 0.0005 + 1e-9
    assert loop.stats.deadline_misses == 0 and loop.stats.controls == 1


def test_the_pipelined_loop_answers_in_arrival_order():
    arrivals = [(i * 0.001, "ab"[i % 2], 0) for i in range(8)]
    client, _, loop = scripted_loop(arrivals, 0.0, frozenset("ab"))
    seen = []
    loop.observers = (Watch(seen),)
    loop.run(threading.Event(), max_slots=8)
    assert [(h.node_id, h.sequence_number) for h in seen] == [
        ("ab"[i % 2], i // 2 + 1) for i in range(8)]
    assert loop.stats.dropped == {} and len(loop.pipe) == 0


class Watch:
    def __init__(self, seen) -> None:
        self.seen = seen

    def on_indication(self, received) -> None:
        pass

    def on_decision(self, received, decision) -> None:
        pass

    def on_ack(self, received, control, acked) -> None:
        self.seen.append(acked.ack.header)


def test_real_time_is_the_default_clock():
    loop = SlotLoop(Scripted([]), decider(), XAppMetrics(), HealthState())  # type: ignore[arg-type]
    assert abs(loop.clock_ns() - time.time_ns()) < 10**9
