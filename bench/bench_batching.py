"""Batching across nodes: one gfm forward pass for all nodes of a slot vs one per node.

In-process simulator (lockstep) with N nodes of K links; the xApp's slot loop
with the shipped ``gfm`` policy, once with ``max_batch = 1`` (each indication
decided alone) and once with the default (the indications queued in a slot
are decided in one batched pass). Reports wall time per slot of all nodes,
latency p50/p99 (node timestamp -> control sent) and fallbacks, side
by side in one run. Writes bench/results/batching.md (+ .json).
Run: ``python bench/bench_batching.py [--nodes 8] [--k 50] [--slots 100]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.wire.messages import SubscribeMsg  # noqa: E402
from rrm.models.policy import make_policy  # noqa: E402
from rrm.sim.nodes import NodeSpec, build_node  # noqa: E402
from rrm.sim.simulator import Simulator  # noqa: E402
from rrm.xapp.decision import Decider  # noqa: E402
from rrm.xapp.guards import GuardConfig  # noqa: E402
from rrm.xapp.health import HealthState  # noqa: E402
from rrm.xapp.logs import configure_logging  # noqa: E402
from rrm.xapp.loop import MAX_BATCH, SlotLoop  # noqa: E402
from rrm.xapp.metrics import XAppMetrics  # noqa: E402
from rrm.xapp.transport.inproc import InProcessClient  # noqa: E402


def run(nodes: int, k: int, slots: int, max_batch: int) -> dict[str, float]:
    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 0.2)
                     for i in range(nodes)], 0.2, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("bench", transaction_id="b"))
    decider = Decider(make_policy("gfm"), make_policy("wmmse", max_iter=30), GuardConfig(),
                      "sum")
    loop = SlotLoop(client, decider, XAppMetrics(), HealthState(), max_batch=max_batch)
    sim.start()
    try:
        time.sleep(0.1)
        t0 = time.perf_counter()
        loop.run(threading.Event(), max_slots=slots * nodes)
        wall = time.perf_counter() - t0
    finally:
        sim.stop()
        decider.close()
    # node timestamp -> control sent: the queue wait of the later nodes of a slot counts
    lat = np.asarray(loop.stats.latency_ms) + np.asarray(loop.stats.stage_ms["transport_in"])
    policy = np.asarray(loop.stats.stage_ms["policy"])
    return {"nodes": nodes, "K": k, "max_batch": max_batch,
            "ms_per_slot_all_nodes": 1e3 * wall / slots,
            "policy_ms_mean": float(policy.mean()),
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "fallbacks": sum(loop.stats.fallbacks.values())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--slots", type=int, default=100)
    args = parser.parse_args()
    configure_logging("error")
    import torch
    torch.set_num_threads(1)
    rows = []
    for nodes in args.nodes:
        for max_batch in (1, MAX_BATCH):
            rows.append(run(nodes, args.k, args.slots, max_batch))
            print(json.dumps(rows[-1]), flush=True)
    write(rows, args.slots)


def write(rows: list[dict[str, float]], slots: int) -> None:
    lines = ["# Batching across nodes (gfm, in-process lockstep simulator)", "", machine_line(),
             "", f"{slots} slots per run; max_batch 1 = every indication decided alone. "
             "`ms per slot` = wall time to answer all nodes of one slot; `policy ms` = mean "
             "policy time per indication (batched: the shared pass is charged to the first). "
             "Latency: the node's timestamp -> control sent (includes the wait in the "
             "queue behind the slot's other nodes).",
             "", "| nodes | K | max_batch | ms per slot | policy ms | p50 ms | p99 ms | "
             "fallbacks |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['nodes']} | {r['K']} | {r['max_batch']} | "
                     f"{r['ms_per_slot_all_nodes']:.2f} | {r['policy_ms_mean']:.3f} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['fallbacks']} |")
    print(save_results("batching", lines, rows), end="")


if __name__ == "__main__":
    main()
