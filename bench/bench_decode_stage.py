"""The in-process loop's decode stage and the GC pauses inside it, before and after, one run.

#18's in-process gfm loop (8 nodes x K = 50, lockstep) read 264 -> 247
decisions/s while the ``decode`` stage went 0.24 -> 0.62 ms. This bench
runs that configuration (``bench_throughput``'s in-process loop, same window:
the 800 answers after 20 slots per node) in one child per tree and version,
alternating, and reports per decision: throughput, the xApp process's CPU,
the ``decode`` stage's mean (wall, as the loop records it), the decoder's own
thread CPU (``rrm.xapp.transport.base._decode``), and the garbage collector's
pauses inside the window (count of full passes, their total, and how much of
it landed inside the decoder).

Run: ``python bench/bench_decode_stage.py --base /work/base-hot [--also /work/perf-base]
[--rounds 3]``. Writes bench/results/decode_stage.md (+ .json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, run_in_tree, save_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
SPEC = {"mode": "lockstep", "transport": "inproc", "nodes": 8, "policy": "gfm",
        "lockstep": True, "slot_ms": 1000, "answers": 800}


class GcWatch:
    """Every collection's (start perf_counter s, generation, pause s, inside the decoder)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, float, bool]] = []
        self.in_decode = False
        self.decode_cpu_s = 0.0
        self.decodes = 0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.events.append((self._t0, info["generation"], time.perf_counter() - self._t0,
                                self.in_decode))

    def wrap(self, decode: Any) -> Any:
        """``decode`` timed (thread CPU) and marked, so pauses inside it are attributed."""
        def timed(message: Any) -> Any:
            self.in_decode, t0 = True, time.thread_time()
            try:
                return decode(message)
            finally:
                self.in_decode = False
                self.decode_cpu_s += time.thread_time() - t0
                self.decodes += 1
        return timed


def child() -> dict[str, Any]:
    """Run the loop in this process (the tree on PYTHONPATH); its figures."""
    import bench_throughput as bt

    import rrm.xapp.app as app_module
    import rrm.xapp.transport.base as base
    from rrm.xapp.logs import configure_logging

    configure_logging("error")
    watch = GcWatch()
    base._decode = watch.wrap(base._decode)
    apps: list[Any] = []
    init = app_module.XApp.__init__

    def keep(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        apps.append(self)

    app_module.XApp.__init__ = keep  # type: ignore[method-assign]
    gc.callbacks.append(watch)
    out = bt._inproc(dict(SPEC))
    at = apps[0].stats.latency_ms.at
    warm = SPEC["nodes"] * bt.WARM_SLOTS
    lo, hi = at[warm - 1][0], at[warm + SPEC["answers"] - 1][0]
    window = [e for e in watch.events if lo <= e[0] < hi]
    stages = {name: list(v)[-SPEC["answers"]:] for name, v in apps[0].stats.stage_ms.items()}
    n = SPEC["answers"]
    return {"decisions_per_s": out["decisions_per_s"], "p99_ms": out["p99_ms"],
            "cpu_ms": out["xapp_cpu_ms_per_decision"],
            "decode_ms": sum(stages["decode"]) / len(stages["decode"]),
            "total_ms": sum(stages["total"]) / len(stages["total"]),
            "decode_cpu_ms": 1e3 * watch.decode_cpu_s / max(watch.decodes, 1),
            "full_gc": sum(1 for e in window if e[1] == 2),
            "gc_ms": 1e3 * sum(e[2] for e in window) / n,
            "gc_in_decode_ms": 1e3 * sum(e[2] for e in window if e[3]) / n,
            "gc_max_ms": 1e3 * max((e[2] for e in window), default=0.0)}


def run_child(tree: str) -> dict[str, Any]:
    return run_in_tree(__file__, tree, [], timeout_s=300)


COLUMNS = (("decisions_per_s", "decisions/s", ".0f"), ("p99_ms", "p99 ms", ".1f"),
           ("cpu_ms", "xApp CPU ms", ".2f"), ("total_ms", "loop ms", ".2f"),
           ("decode_ms", "decode ms", ".3f"), ("decode_cpu_ms", "decoder CPU ms", ".3f"),
           ("full_gc", "full GC passes", ".0f"), ("gc_ms", "GC ms", ".3f"),
           ("gc_in_decode_ms", "GC in decode ms", ".3f"), ("gc_max_ms", "longest GC ms", ".0f"))


def report(args: argparse.Namespace, rows: list[dict[str, Any]], versions: list[str]) -> list[str]:
    """Every run, then the mean per version."""
    head = "| round | version | load | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = ["# The in-process loop's decode stage and GC pauses, before / after (#18)", "",
             machine_line(), "",
             "8 nodes x K = 50, gfm, lockstep, in-process (bench_throughput's loop and window: "
             "800 answers after 20 slots per node); versions alternate per round. Per decision: "
             "loop ms = the `total` stage, decode ms = the `decode` stage (wall), decoder CPU = "
             "the decoder's own thread CPU; GC columns: collections inside the window (full "
             "passes counted, pauses per decision, the share paused inside the decoder, the "
             "longest pause). Load: 1-minute load average at the child's start (2 cores, "
             f"shared). Command: `python bench/bench_decode_stage.py {' '.join(sys.argv[1:])}`.",
             "", head, "|" + "---|" * (3 + len(COLUMNS))]
    for r in rows:
        cells = ["-" if r.get(k) is None else format(r[k], f) for k, _, f in COLUMNS]
        lines.append(f"| {r['round']} | {r['version']} | {r['load_1min']:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "| version | " + " | ".join(c[1] for c in COLUMNS) + " |",
              "|" + "---|" * (1 + len(COLUMNS))]
    for v in versions:
        ok = [r for r in rows if r["version"] == v and "error" not in r]
        if ok:
            cells = [format(sum(r[k] for r in ok) / len(ok), f) for k, _, f in COLUMNS]
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree (main at the branch point)")
    parser.add_argument("--also", default="", help="an older tree (e.g. the issue's 388249f)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child()))
        return
    if not args.base:
        parser.error("--base is required")
    trees = ([("older", args.also)] if args.also else []) + [("before", args.base),
                                                            ("after", str(HERE))]
    rows = []
    for r in range(args.rounds):
        for version, tree in trees:
            row = {"round": r, "version": version, "load_1min": os.getloadavg()[0],
                   **run_child(tree)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(save_results("decode_stage", report(args, rows, [v for v, _ in trees]), rows), end="")


if __name__ == "__main__":
    main()
