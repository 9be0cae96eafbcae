"""The simulator's CPU per slot (node side of the E2 contract), before and after, one run.

What one ``rrm sim serve`` does for every slot, without sockets: open the
slot on every node and queue its indication (:meth:`Simulator._publish_slot`),
hand each subscriber its copy as the servers send it (a
``SubscriptionEvent`` serialised), parse and apply one control per node and
encode its ack, close the slot. The xApp's share (building the controls) is
done outside the timed region. 8 nodes x K = 50, one subscription (and a
second with ``--subscribers 2``).

Every tree runs in a child process (``--child``) whose PYTHONPATH picks it,
alternating, so the base tree and this one are compared in one run.

Run: ``python bench/bench_sim_slot.py --base /work/w3-i18-base``.
Writes bench/results/sim_slot.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


def child(nodes: int, k: int, slots: int, subscribers: int) -> dict[str, float]:
    """Median and p90 node CPU per slot (ms) over ``slots`` slots, in this process."""
    import numpy as np

    from rrm.core.types import PowerAllocation
    from rrm.core.wire import e2_pb2 as pb
    from rrm.core.wire.codec import (
        decode_control,
        encode_ack,
        encode_control,
        header_from_pb,
        parse,
    )
    from rrm.core.wire.messages import ControlMsg, SubscribeMsg
    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.sim.simulator import Simulator

    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 1.0)
                     for i in range(nodes)], 1.0, lockstep=True)
    feeds = [sim.subscribe(SubscribeMsg("bench", transaction_id=f"t{s}")).feed  # type: ignore
             for s in range(subscribers)]
    power = PowerAllocation(np.full(k, 0.5e-3))
    per_slot: list[float] = []
    for _ in range(slots):
        t0 = time.thread_time()
        sim._publish_slot()
        sent = [[pb.SubscriptionEvent(indication=ind).SerializeToString()
                 for ind in iter(lambda f=f: f.get(0.0), None)] for f in feeds]  # type: ignore
        t1 = time.thread_time()
        controls = [encode_control(ControlMsg(header_from_pb(
            pb.SubscriptionEvent.FromString(w).indication.header), power, "bench", "v"))
            .SerializeToString() for w in sent[0]]
        t2 = time.thread_time()
        for wire in controls:
            encode_ack(sim.control(decode_control(parse(pb.ControlRequest, wire)))
                       ).SerializeToString()
        for node in sim.nodes.values():
            node.close_slot()
        sim.slots_run += 1
        per_slot.append(1e3 * (time.thread_time() - t2 + t1 - t0))
    ms = np.asarray(per_slot[5:])
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(ms.mean())}


def run_child(tree: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", "--nodes", str(args.nodes), "--k", str(args.k),
           "--slots", str(args.slots), "--subscribers", str(args.subscribers)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if res.returncode:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    out: dict[str, Any] = json.loads(res.stdout.splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree (main at the branch point)")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--slots", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="before/after pairs, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.nodes, args.k, args.slots, args.subscribers)))
        return
    if not args.base:
        parser.error("--base is required")
    rows = [{"round": r, "version": v, **run_child(tree, args)}
            for r in range(args.rounds)
            for v, tree in (("before", args.base), ("after", str(HERE)))]
    lines = ["# Simulator CPU per slot (node side), before / after #18", "", machine_line(), "",
             f"{args.nodes} nodes x K = {args.k}, {args.subscribers} subscriber(s), "
             f"{args.slots} slots per run (first 5 discarded), thread CPU time. Command: "
             f"`python bench/bench_sim_slot.py {' '.join(sys.argv[1:])}`.", "",
             "| round | version | p50 ms/slot | p90 ms/slot | mean ms/slot |",
             "|---|---|---|---|---|"]
    nan = float("nan")
    for r in rows:
        lines.append(f"| {r['round']} | {r['version']} | {r.get('p50_ms', nan):.2f} | "
                     f"{r.get('p90_ms', nan):.2f} | {r.get('mean_ms', nan):.2f} |")
    print(save_results("sim_slot", lines, rows), end="")


if __name__ == "__main__":
    main()
