"""The xApp's gfm decision path, K = 50: this tree next to a base tree, alternating.

Per version, in its own child process (``--child``; PYTHONPATH picks the tree):

* ``slot of 8``: one 8-node slot through the :class:`rrm.xapp.decision.Decider`
  (``prefetch``: the batched pass and the shift scores, then ``decide`` per
  indication: guards), per slot;
* ``lone``: one indication as the slot loop serves it when it arrives alone
  (before #18's w7 change: ``decide`` on the policy's worker thread; after: a
  batched pass of one on the calling thread).

Medians of the process CPU time (every thread: the policy worker's too) and of the
wall clock, ms, over seeded simulator snapshots decoded from their wire bytes.

Run: ``python bench/bench_decide_path.py --base /work/base-w7 [--rounds 4]``.
Writes bench/results/decide_path.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, run_in_tree, save_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
K, NODES, SNAPSHOTS = 50, 8, 20


def child(lone_batched: bool) -> dict[str, Any]:
    """Time both cases in this process."""
    import numpy as np

    from rrm.core.wire import e2_pb2 as pb
    from rrm.core.wire.codec import decode_indication, encode_indication
    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.xapp.app import XApp
    from rrm.xapp.config import load_config
    from rrm.xapp.logs import configure_logging

    configure_logging("error")
    nodes = [build_node(NodeSpec(num_links=K), f"node-{i}", i, 0.02) for i in range(NODES)]
    decider = XApp(load_config(environ={}, flags={"policy": "gfm", "health_port": 0})).decider
    slots = []
    for _ in range(SNAPSHOTS):
        wire = [encode_indication(n.open_slot("c")).SerializeToString() for n in nodes]
        slots.append([decode_indication(pb.Indication.FromString(b)) for b in wire])
        for n in nodes:
            n.close_slot()

    def slot(r: int) -> None:
        inds = slots[r % SNAPSHOTS]
        decider.prefetch(inds)
        for ind in inds:
            decider.decide(ind, 1.0)

    def lone(r: int) -> None:
        ind = slots[r % SNAPSHOTS][r % NODES]
        if lone_batched:  # what the loop does now (rrm.xapp.loop.SlotLoop._serve)
            decider.prefetch([ind], min_batch=1)
        assert not decider.decide(ind, 1.0).fallback_reason

    def measure(fn: Callable[[int], None], n: int) -> list[float]:
        for r in range(10):
            fn(r)
        cpu, wall = [], []
        for r in range(n):
            c0, w0 = time.process_time(), time.perf_counter()
            fn(r)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        return [1e3 * float(np.median(cpu)), 1e3 * float(np.median(wall))]

    try:
        return {"slot of 8": measure(slot, 150), "lone": measure(lone, 300)}
    finally:
        decider.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        print(json.dumps(child(args.child == "new")))
        return
    if not args.base:
        parser.error("--base is required")
    rows = []
    for r in range(args.rounds):
        for version, tree in (("before", args.base), ("after", str(HERE))):
            load = os.getloadavg()[0]
            out = run_in_tree(__file__, tree, ["new" if version == "after" else "old"])
            rows.append({"round": r, "version": version, "load_1min": load, **out})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(write(rows, args.base), end="")


def write(rows: list[dict[str, Any]], base: str) -> str:
    """bench/results/decide_path.md and .json; returns the markdown."""
    loads = [r["load_1min"] for r in rows]
    lines = ["# gfm decision path through the xApp's Decider, before / after", "",
             machine_line(), "",
             f"Command: `python bench/bench_decide_path.py --base {base} --rounds "
             f"{1 + max(r['round'] for r in rows)}`; 1-min load {min(loads):.1f}-"
             f"{max(loads):.1f} on {os.cpu_count()} cores. Per round and version: median "
             "process CPU / wall ms (module docstring).", "",
             "| round | slot of 8 before | slot of 8 after | lone before | lone after |",
             "|---|---|---|---|---|"]
    by = {(r["round"], r["version"]): r for r in rows}
    for i in sorted({r["round"] for r in rows}):
        cells = []
        for case in ("slot of 8", "lone"):
            for v in ("before", "after"):
                got = by.get((i, v), {}).get(case)
                cells.append("-" if got is None else f"{got[0]:.2f} / {got[1]:.2f}")
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    return save_results("decide_path", lines, rows)


if __name__ == "__main__":
    main()
