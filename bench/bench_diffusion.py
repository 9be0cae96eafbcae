"""Compute per slot of the diffusion policy vs the primal-dual expert, and the live loop.

Seed 004 claims that one DDIM sampling pass replaces thousands of
primal-dual iterations. On one ergodic network of N = 20 pairs (density
8.2 pairs/km^2, f_min 0.6) this measures:

* U-GNN sampling (shipped ``diffusion-small``, 100 DDIM steps, eta 0.2):
  one pass for 1 sample and for a refill batch of 32 samples;
* the expert: 3,000 primal-dual iterations (one network), i.e. the cost of
  its 200-sample window;
* a slot served from the pre-sampled buffer (``decide`` on a decoded ergodic state);
* a live in-process loop on an ergodic node with real 50 ms slots and a new
  topology every 100 slots: the share of slots served from the buffer.

Prints a table and writes bench/results/diffusion.md (+ .json).
Run: ``python bench/bench_diffusion.py`` (torch on 1 thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, machine_line  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.wire.codec import decode_indication, encode_indication  # noqa: E402
from rrm.core.wire.messages import ControlMsg, Outcome, SubscribeMsg  # noqa: E402
from rrm.models.diffusion.data import ergodic_config  # noqa: E402
from rrm.models.diffusion.expert import ExpertConfig, run_expert  # noqa: E402
from rrm.models.diffusion.model import load_diffusion  # noqa: E402
from rrm.models.diffusion.policy import DiffusionPolicy  # noqa: E402
from rrm.models.policy import PolicyUnavailable, make_policy  # noqa: E402
from rrm.sim.env import InterferenceEnv, Topology  # noqa: E402
from rrm.sim.fading import FadingProcess  # noqa: E402
from rrm.sim.node import NodeConfig, SimNode  # noqa: E402
from rrm.sim.scenarios.ergodic import generate_ergodic_network  # noqa: E402
from rrm.sim.simulator import Simulator  # noqa: E402
from rrm.xapp.decision import Decider  # noqa: E402
from rrm.xapp.guards import GuardConfig  # noqa: E402
from rrm.xapp.health import HealthState  # noqa: E402
from rrm.xapp.loop import SlotLoop  # noqa: E402
from rrm.xapp.metrics import XAppMetrics  # noqa: E402
from rrm.xapp.observer import LoopObserver  # noqa: E402
from rrm.xapp.transport.base import Acked, Received  # noqa: E402
from rrm.xapp.transport.inproc import InProcessClient  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
N, DENSITY, F_MIN = 20, 8.2, 0.6


def timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compute_rows() -> list[dict[str, object]]:
    cfg = ergodic_config(N, DENSITY, F_MIN)
    large = generate_ergodic_network(cfg, np.random.default_rng(7)).large_scale
    model, _ = load_diffusion()
    fmin = np.full((1, N), F_MIN)
    rows: list[dict[str, object]] = []
    for s in (1, 32):
        sec = timed(lambda s=s: model.sample(large[None], cfg.noise_w, cfg.pmax_w, fmin, s), 3)
        rows.append({"what": f"U-GNN: 1 DDIM pass (100 steps), {s} sample(s)", "seconds": sec,
                     "per_slot_ms": 1e3 * sec / s})
    expert = ExpertConfig()
    sec = timed(lambda: run_expert(large[None], cfg.noise_w, cfg.pmax_w, fmin, expert), 1)
    rows.append({"what": f"expert: {expert.iterations} primal-dual iterations -> "
                         f"{expert.samples} samples", "seconds": sec,
                 "per_slot_ms": 1e3 * sec / expert.samples,
                 "per_iteration_ms": 1e3 * sec / expert.iterations})
    return rows


def _ergodic_node(episode_slots: int, slot_s: float, n: int = N) -> SimNode:
    cfg = ergodic_config(n, DENSITY, F_MIN)

    def draw(rng: np.random.Generator) -> Topology:
        net = generate_ergodic_network(cfg, rng)
        return Topology(net.large_scale, cfg.noise_w, np.full(n, cfg.pmax_w), np.full(n, F_MIN))

    env = InterferenceEnv(draw, FadingProcess(cfg.rho), get_objective("sum"), 0.0, episode_slots,
                          ergodic=True)
    return SimNode(env, NodeConfig("n0", "ergodic", slot_s), seed=3)


def live_loop(slots: int = 400, episode_slots: int = 100, slot_s: float = 0.05, n: int = N,
              fill_timeout_s: float = 10.0, warm_timeout_s: float = 0.0,
              **policy_kwargs: Any) -> dict[str, object]:
    """Real-time loop: 50 ms slots, new topology every ``episode_slots``; buffer statistics.

    ``warm_timeout_s > 0``: before the loop starts, the first topology's
    buffer gets its first draw (up to that long; ``warm_s`` says how long).
    """
    policy = DiffusionPolicy(**policy_kwargs)
    node = _ergodic_node(episode_slots, slot_s, n)
    warm_s = _warm(policy, node, warm_timeout_s) if warm_timeout_s > 0 else None
    sim = Simulator([node], slot_period_s=slot_s, lockstep=False)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("bench", transaction_id="b"))
    decider = Decider(policy, make_policy("wmmse", max_iter=100), GuardConfig(), "sum")
    applied = AppliedCounter(policy.name)
    loop = SlotLoop(client, decider, XAppMetrics(), HealthState(), observers=[applied])
    pop_s: list[float] = []
    sim.start()
    try:
        while loop.stats.slots < slots:
            raw = client.next_indication(1.0)
            if raw is None:
                continue
            loop.process(raw)
        stats = policy.stats()  # before the timing pops below
        # one more indication, decoded as the xApp sees it: time a pop from the filled buffer
        state = decode_indication(encode_indication(node.open_slot())).state
        filled = policy.buffers.wait_filled("n0", 8, fill_timeout_s)
        for _ in range(5 if filled else 0):  # N = 400 on a CPU: the buffer may never fill
            t0 = time.perf_counter()
            policy.decide(state, get_objective("sum"))
            pop_s.append(time.perf_counter() - t0)
    finally:
        sim.stop()
        decider.close()
        policy.close()
    fallbacks = dict(loop.stats.fallbacks)
    stage_ms = {k: {"p50": round(float(np.percentile(v, 50)), 2),
                    "p90": round(float(np.percentile(v, 90)), 2)}
                for k, v in loop.stats.stage_ms.items() if k in STAGES and v}
    return {"slots": loop.stats.slots, "served": stats.get("served", 0),
            "served_share": stats.get("served", 0) / max(loop.stats.slots, 1),
            "applied": applied.count, "applied_share": applied.count / max(loop.stats.slots, 1),
            "deadline_misses": loop.stats.deadline_misses, "refusals": loop.stats.refusals,
            "stage_ms": stage_ms,
            "fallbacks": fallbacks, "buffer": stats, "n": n,
            "pop_us": 1e6 * statistics.median(pop_s) if pop_s else None,
            "slot_ms": 1e3 * slot_s, "episode_slots": episode_slots, "warm_s": warm_s}


STAGES = ("transport_in", "decode", "policy", "guards", "fallback", "send", "total")


class AppliedCounter(LoopObserver):
    """Counts the policy's own controls that the node accepted (in time, in its slot)."""

    def __init__(self, policy: str) -> None:
        self.policy, self.count = policy, 0

    def on_ack(self, received: Received, control: ControlMsg, acked: Acked) -> None:
        if control.policy == self.policy and acked.ack.outcome == Outcome.ACCEPTED:
            self.count += 1


def _warm(policy: DiffusionPolicy, node: SimNode, timeout_s: float) -> float | None:
    """Seconds until the node's current state has one buffered draw (None: timed out)."""
    state = decode_indication(encode_indication(node.open_slot())).state
    t0 = time.perf_counter()
    with contextlib.suppress(PolicyUnavailable):
        policy.decide(state, get_objective("sum"))  # cold: queues the first draw
    ok = policy.buffers.wait_filled(state.network_id, 1, timeout_s)
    return round(time.perf_counter() - t0, 1) if ok else None


def main() -> None:
    torch.set_num_threads(1)
    rows = compute_rows()
    loops = [live_loop(400, 100, 0.05), live_loop(200, 100, 0.2)]
    load = os.getloadavg()[0]
    lines = ["# Diffusion policy: compute per slot and the live loop", "", machine_line(),
             f"Load average at the end (1 min): {load:.1f} (the 2 cores are shared).", "",
             f"One ergodic network, N = {N}, {DENSITY} pairs/km^2, f_min = {F_MIN}; torch on 1 "
             "thread. Per-slot cost = the work that produced one slot's allocation.", "",
             "| what | seconds | ms per slot |", "|---|---|---|"]
    lines += [f"| {r['what']} | {r['seconds']:.3f} | {r['per_slot_ms']:.2f} |" for r in rows]
    pop_us = float(loops[0]["pop_us"])  # type: ignore[arg-type]
    lines += [f"| slot served from the buffer (`decide`) | "
              f"{pop_us / 1e6:.6f} | {pop_us / 1e3:.3f} |", ""]
    lines += [f"Live in-process loop: {lp['slots']} slots of {lp['slot_ms']:.0f} ms, a new "
              f"topology every {lp['episode_slots']} slots: {lp['served']} slots "
              f"({lp['served_share']:.1%}) served from the pre-sampled buffer; fallbacks "
              f"{json.dumps(lp['fallbacks'])}; buffer counters {json.dumps(lp['buffer'])}.\n"
              for lp in loops]
    OUT.mkdir(exist_ok=True)
    (OUT / "diffusion.md").write_text("\n".join(lines) + "\n")
    (OUT / "diffusion.json").write_text(json.dumps(
        {"machine": machine_info(), "load_avg_1min": load, "rows": rows, "live_loops": loops},
        indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
