"""Decision latency of the learned interference policies next to one WMMSE run.

One snapshot at a time, one thread, policies interleaved round-robin on the
same snapshots (so a noisy neighbour slows them all alike): median and p90
milliseconds per decision for each K of D16-D20, and the ratio of each
median to single-start WMMSE's (100 iterations). Quality figures live in
``rrm gfm eval --suite per-k`` (bench/results/gfm-eval/).

Run: ``python bench/bench_gfm.py [--n 50] [--entries D16,D18,D20]``.
Writes bench/results/gfm_latency.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.gfm.policy import CHECKPOINTS, PCGNN_CHECKPOINT  # noqa: E402
from rrm.models.policy import Policy, make_policy  # noqa: E402


def policies() -> dict[str, Policy]:
    """The policies timed: learned ones first, then the WMMSE family."""
    out = {"gfm": make_policy("gfm"), "gfm-wmmse": make_policy("gfm-wmmse")}
    if (CHECKPOINTS / PCGNN_CHECKPOINT).is_dir():
        out["pcgnn"] = make_policy("pcgnn")
    out["wmmse"] = make_policy("wmmse")
    return out


def time_entry(entry: str, n: int, pols: dict[str, Policy]) -> list[dict[str, object]]:
    """Interleaved single-snapshot timings of every policy on ``n`` test snapshots."""
    state = test_state(entry, n)
    objective = get_objective("sum")
    times: dict[str, list[float]] = {name: [] for name in pols}
    for i in range(n):
        one = InterferenceState(state.gains[i], state.noise_w, state.pmax_w)
        for name, policy in pols.items():
            t0 = time.perf_counter()
            policy.decide(one, objective)
            if i:  # the first round warms caches up
                times[name].append(1e3 * (time.perf_counter() - t0))
    ref = float(np.median(times["wmmse"]))
    k = state.gains.shape[-1]
    return [{"entry": entry, "K": k, "policy": name, "median_ms": float(np.median(t)),
             "p90_ms": float(np.percentile(t, 90)), "vs_wmmse": float(np.median(t)) / ref}
            for name, t in times.items()]


def write(rows: list[dict[str, object]], n: int) -> str:
    """bench/results/gfm_latency.md and .json; returns the markdown."""
    lines = ["# Decision latency: learned policies vs one WMMSE run", "", machine_line(), "",
             f"One snapshot per decision, one thread, {n - 1} timed snapshots per entry "
             "(first 'n' of the test split, the first round untimed), policies interleaved. "
             "Command: `python bench/bench_gfm.py " + " ".join(sys.argv[1:]) + "`", "",
             "| entry | K | policy | median ms | p90 ms | median / wmmse |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['entry']} | {r['K']} | {r['policy']} | {r['median_ms']:.2f} | "
              f"{r['p90_ms']:.2f} | {r['vs_wmmse']:.2f} |" for r in rows]
    return save_results("gfm_latency", lines, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="snapshots per entry (>= 2)")
    parser.add_argument("--entries", default="D16,D17,D18,D19,D20")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    torch.set_num_threads(1)
    pols = policies()
    rows = []
    for entry in args.entries.split(","):
        rows += time_entry(entry.strip(), args.n, pols)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(write(rows, args.n))


if __name__ == "__main__":
    main()
