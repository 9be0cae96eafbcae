"""Time-sharing policies: sample buffers, diffusion on a tiny instance and in the loop."""

import os
import threading
import time

import numpy as np
import pytest
import torch

from rrm.core.types import InterferenceState
from rrm.core.wire.codec import decode_indication, encode_indication
from rrm.core.wire.messages import SubscribeMsg
from rrm.models.diffusion.buffer import SampleBuffers
from rrm.models.diffusion.data import ExpertSet
from rrm.models.diffusion.evaluate import cumulative_rates
from rrm.models.diffusion.expert import ExpertConfig, run_expert
from rrm.models.diffusion.model import GraphDiffusion, load_diffusion, save_diffusion
from rrm.models.diffusion.schedule import DdimConfig
from rrm.models.diffusion.train import TrainConfig, train
from rrm.models.diffusion.ugnn import UGNN, UGNNConfig
from rrm.models.policy import PolicyUnavailable, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.inproc import InProcessClient

F_MIN = 1.0


def tagged_sampler(calls):
    """Fake sampler: every share row is large_scale[0, 0], so a row names its network."""

    def draw(large, noise, pmax, fmin, count):
        calls.append((float(large[0, 0]), count))
        return np.full((count, large.shape[0]), float(large[0, 0]))

    return draw


def test_buffer_serves_only_allocations_drawn_for_the_current_large_scale_state():
    calls = []
    buf = SampleBuffers(tagged_sampler(calls), capacity=8, refill_below=2, batch=4,
                        first_batch=1)
    g1, g2, fmin = np.full((3, 3), 0.25), np.full((3, 3), 0.5), np.zeros(3)
    with pytest.raises(PolicyUnavailable, match="cold"):
        buf.take("n", 1, g1, fmin, 1.0, 1.0)
    assert buf.wait_filled("n", 5, 5.0)
    assert calls[:2] == [(0.25, 1), (0.25, 4)]  # a quick small draw first, then full refills
    assert all(buf.take("n", 1, g1, fmin, 1.0, 1.0)[0] == 0.25 for _ in range(3))
    with pytest.raises(PolicyUnavailable, match="stale"):  # new topology: old draws dropped
        buf.take("n", 2, g2, fmin, 1.0, 1.0)
    assert buf.wait_filled("n", 4, 5.0)
    assert buf.take("n", 2, g2, fmin, 1.0, 1.0)[0] == 0.5
    with pytest.raises(PolicyUnavailable, match="stale"):  # same version, other f_min
        buf.take("n", 2, g2, np.ones(3), 1.0, 1.0)
    assert buf.counters["served"] == 4 and buf.counters["stale"] == 2
    buf.close()


def test_empty_buffer_is_reported_and_refilled_in_the_background():
    gate = threading.Event()
    calls = []
    inner = tagged_sampler(calls)

    def slow(*args):
        gate.wait(5.0)
        return inner(*args)

    buf = SampleBuffers(slow, capacity=4, refill_below=1, batch=2)
    g, fmin = np.eye(2), np.zeros(2)
    with pytest.raises(PolicyUnavailable):
        buf.take("n", 0, g, fmin, 1.0, 1.0)
    with pytest.raises(PolicyUnavailable, match="empty"):  # the draw has not finished
        buf.take("n", 0, g, fmin, 1.0, 1.0)
    gate.set()
    assert buf.wait_filled("n", 2, 5.0)
    buf.take("n", 0, g, fmin, 1.0, 1.0)
    assert buf.counters["empty"] == 1 and buf.counters["served"] == 1
    buf.close()


def test_replay_buffer_time_shares_its_candidates_without_consuming_them():
    counts = []

    def numbered(large, noise, pmax, fmin, count):  # row i of the j-th draw holds 10 j + i
        counts.append(count)
        return 10.0 * len(counts) + np.arange(count)[:, None] + np.zeros((count, 2))

    buf = SampleBuffers(numbered, capacity=3, refill_below=1, batch=2, first_batch=1,
                        replay=True)
    g, fmin = np.eye(2), np.zeros(2)
    with pytest.raises(PolicyUnavailable, match="cold"):
        buf.take("n", 0, g, fmin, 1.0, 1.0)
    assert buf.wait_filled("n", 3, 5.0)
    played = {float(buf.take("n", 0, g, fmin, 1.0, 1.0)[0]) for _ in range(60)}
    assert played == {10.0, 20.0, 21.0}  # every candidate, none consumed
    assert buf.available("n") == 3 and counts == [1, 2]  # full: no more draws
    assert buf.counters["served"] == 60 and buf.counters["empty"] == 0
    buf.close()


def test_networks_of_replay_pairs_or_more_time_share_and_smaller_ones_consume():
    buf = SampleBuffers(tagged_sampler([]), capacity=2, refill_below=0, batch=1,
                        first_batch=1, replay_pairs=3)
    for node, n in (("large", 3), ("small", 2)):
        with pytest.raises(PolicyUnavailable, match="cold"):
            buf.take(node, 0, np.eye(n), np.zeros(n), 1.0, 1.0)
    assert buf.wait_filled("large", 2, 5.0) and buf.wait_filled("small", 1, 5.0)
    for _ in range(10):
        buf.take("large", 0, np.eye(3), np.zeros(3), 1.0, 1.0)
    assert buf.available("large") == 2  # time-shared: nothing consumed
    left = buf.available("small")
    buf.take("small", 0, np.eye(2), np.zeros(2), 1.0, 1.0)
    assert buf.available("small") == left - 1  # below replay_pairs: consumed
    assert not SampleBuffers(tagged_sampler([])).replays(10_000)  # default: no replay
    buf.close()


def test_a_buffer_is_stale_when_the_gains_change_under_the_same_version():
    calls = []
    buf = SampleBuffers(tagged_sampler(calls), capacity=4, refill_below=1, batch=2,
                        first_batch=1)
    g, fmin = np.full((3, 3), 0.25), np.zeros(3)
    with pytest.raises(PolicyUnavailable, match="cold"):
        buf.take("n", 1, g, fmin, 1.0, 1.0)
    assert buf.wait_filled("n", 1, 5.0)
    assert buf.take("n", 1, g.copy(), fmin, 1.0, 1.0)[0] == 0.25  # equal values: same state
    moved = g.copy()
    moved[2, 1] *= 1.0 + 1e-12
    with pytest.raises(PolicyUnavailable, match="stale"):
        buf.take("n", 1, moved, fmin, 1.0, 1.0)
    buf.close()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread niceness is Linux's")
def test_the_refill_thread_runs_at_the_niceness_asked_for():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    buf = SampleBuffers(tagged_sampler([]), niceness=5)
    tid = buf._worker.native_id
    end = time.monotonic() + 5.0
    while os.getpriority(os.PRIO_PROCESS, tid) == base and time.monotonic() < end:
        time.sleep(0.005)
    assert os.getpriority(os.PRIO_PROCESS, tid) == min(base + 5, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the caller's thread is untouched
    buf.close()


def test_close_cancels_the_draw_in_progress_and_joins_the_refill_thread():
    started = threading.Event()
    steps = []

    def endless(*args):  # a sampler that would run for minutes, checking between its steps
        started.set()
        while True:
            buf.check_open()
            steps.append(1)
            time.sleep(0.001)

    buf = SampleBuffers(endless, capacity=4, refill_below=1, batch=2)
    with pytest.raises(PolicyUnavailable, match="cold"):
        buf.take("n", 0, np.eye(2), np.zeros(2), 1.0, 1.0)
    assert started.wait(5.0)
    t0 = time.monotonic()
    buf.close(timeout_s=5.0)
    assert not buf._worker.is_alive() and time.monotonic() - t0 < 1.0
    assert steps and buf.counters["refills"] == 0


def tiny_network():
    g = np.full((4, 4), 0.01)
    np.fill_diagonal(g, 10.0)
    g[0, 1], g[1, 0] = 20.0, 15.0
    return g


@pytest.mark.slow
def test_time_shared_diffusion_samples_meet_f_min_where_the_expert_does(tmp_path):
    torch.set_num_threads(1)
    g = tiny_network()
    samples = run_expert(g[None], 1.0, 1.0, F_MIN, ExpertConfig(iterations=2000,
                                                               fading_samples=16)).samples
    rng = np.random.default_rng(0)
    assert cumulative_rates(g[None], samples, 1.0, 1.0, 3000, rng)[-1].min() >= 0.9 * F_MIN
    torch.manual_seed(0)
    model = GraphDiffusion(UGNN(UGNNConfig(channels=16, embed_dim=32)), ddim=DdimConfig(20))
    data = ExpertSet(g[None], np.array([F_MIN]), samples, np.array([1.0]), 1.0, 1.0)
    train(model, data, None, TrainConfig(steps=1000, batch_size=32, lr=3e-3, val_every=1000))
    save_diffusion(tmp_path, model, {}, {"command": "test"})
    loaded, _ = load_diffusion(tmp_path)
    shares = loaded.sample(g[None], 1.0, 1.0, np.array([F_MIN]), 100, seed=0)
    rates = cumulative_rates(g[None], shares, 1.0, 1.0, 3000, np.random.default_rng(0))[-1]
    full = cumulative_rates(g[None], np.ones((1, 1, 4)), 1.0, 1.0, 3000,
                            np.random.default_rng(0))[-1]
    assert rates.min() >= 0.9 * F_MIN > full.min()
    # the conflicting pair takes turns: each is nearly off in some draws and on in others
    assert (shares[0, :, :2] < 0.2).any(axis=0).all() and (shares[0, :, :2] > 0.8).any(axis=0).all()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = GraphDiffusion(UGNN(UGNNConfig(channels=8, embed_dim=16)))
    return save_diffusion(tmp_path_factory.mktemp("ckpt"), model, {}, {"command": "test"})


def test_synchronous_decide_gives_powers_within_budget(tiny_checkpoint):
    policy = make_policy("diffusion", checkpoint=tiny_checkpoint, ddim_steps=5)
    gains = np.abs(np.random.default_rng(0).normal(size=(3, 5, 5))) * 1e-9
    alloc = policy.decide(InterferenceState(gains, 1e-13, 0.01), None)
    assert alloc.power_w.shape == (3, 5) and np.all((alloc.power_w >= 0) & (alloc.power_w <= 0.01))
    assert policy.time_sharing
    assert not policy.answers_inline(InterferenceState(gains, 1e-13, 0.01))  # a draw: worker
    policy.close()


def decoded_slot(node):
    """The node's current slot as the xApp decodes it (network id, large-scale state)."""
    return decode_indication(encode_indication(node.open_slot())).state


def test_live_loop_serves_slots_from_the_buffer_and_falls_back_when_stale(tiny_checkpoint):
    policy = make_policy("diffusion", checkpoint=tiny_checkpoint, ddim_steps=5, batch=16,
                         capacity=32, refill_below=8)
    node = build_node(NodeSpec(scenario="ergodic", num_links=8, episode_slots=30), "n0", seed=1,
                      slot_period_s=0.5)
    sim = Simulator([node], slot_period_s=0.5, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    loop = SlotLoop(client, decider, XAppMetrics(), HealthState())
    sim.start()
    try:
        while loop.stats.slots < 90:
            raw = client.next_indication(1.0)
            loop.process(raw)
            policy.buffers.wait_filled("n0", 1, 2.0)  # a slot period is long enough to refill
    finally:
        sim.stop()
        decider.close()
        policy.close()
    stats = policy.stats()
    assert policy.answers_inline(decoded_slot(node))  # a network's slot: a buffer lookup
    assert set(loop.stats.fallbacks) == {"policy_unavailable"}
    assert stats["cold"] == 1 and stats["stale"] == 2  # three topologies of 30 slots
    assert stats["served"] + loop.stats.fallbacks["policy_unavailable"] == 90
    assert stats["served"] >= 85 and node.counters["accepted"] == 90
