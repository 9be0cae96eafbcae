"""gfm decide latency, one snapshot, one thread: this tree next to a base tree, one run.

Each version runs in its own child process (``--child``; PYTHONPATH picks the
tree), alternating in rounds so a noisy neighbour slows both alike. Per K:
p50 / p99 milliseconds of ``GFMPolicy.decide`` on seeded d2d snapshots, and
the largest power difference between the versions in units of Pmax.

Run: ``python bench/bench_gfm_decide.py --base /work/perf-base [--n 300] [--rounds 3]``.
Writes bench/results/gfm_decide.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

KS = (20, 50, 80)
HERE = Path(__file__).resolve().parents[1]


def snapshot(k: int, i: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Seeded d2d-like gains ``[K, K]``, noise (W) and Pmax ``[K]`` (W)."""
    rng = np.random.default_rng(1000 * k + i)
    gains = rng.uniform(1e-13, 1e-10, (k, k)) + np.diag(rng.uniform(1e-10, 1e-8, k))
    return gains, 4e-14, np.full(k, 0.01)


def child(n: int) -> None:
    """Time ``decide`` in this process; print one JSON line of samples and powers."""
    import torch

    from rrm.core.objectives import get_objective
    from rrm.core.types import InterferenceState
    from rrm.models.policy import make_policy

    torch.set_num_threads(1)
    policy, objective = make_policy("gfm"), get_objective("sum")
    out: dict[str, object] = {}
    for k in KS:
        states = [InterferenceState(*snapshot(k, i)) for i in range(8)]
        for s in states:  # warm-up (and any one-off compilation)
            policy.decide(s, objective)
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            policy.decide(states[i % 8], objective)
            times.append(1e3 * (time.perf_counter() - t0))
        powers = [np.asarray(policy.decide(s, objective).power_w).tolist() for s in states]
        out[str(k)] = {"ms": times, "powers": powers}
    print(json.dumps(out))


def run_child(tree: str, n: int) -> dict[str, dict[str, list]]:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, __file__, "--child", "--n", str(n)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree (e.g. main's worktree)")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    if not args.base:
        parser.error("--base is required")
    samples: dict[str, dict[int, list[float]]] = {"before": {}, "after": {}}
    powers: dict[str, dict[int, np.ndarray]] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for label, tree in (("before", args.base), ("after", str(HERE))):
            res = run_child(tree, args.n)
            for k in KS:
                samples[label].setdefault(k, []).extend(res[str(k)]["ms"])
                powers[label][k] = np.asarray(res[str(k)]["powers"])
    rows = []
    for k in KS:
        diff = float(np.max(np.abs(powers["after"][k] - powers["before"][k]))) / 0.01
        row: dict[str, object] = {"K": k, "max_power_diff_of_pmax": diff}
        for label in ("before", "after"):
            t = np.asarray(samples[label][k])
            row[f"{label}_p50_ms"] = float(np.percentile(t, 50))
            row[f"{label}_p99_ms"] = float(np.percentile(t, 99))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    lines = ["# gfm decide latency: before / after (#18)", "", machine_line(), "",
             f"One snapshot per call, one thread, {args.rounds} alternating rounds of "
             f"{args.n} calls per version and K. Before: `{args.base}`. Command: "
             "`python bench/bench_gfm_decide.py " + " ".join(sys.argv[1:]) + "`", "",
             "| K | before p50 ms | before p99 ms | after p50 ms | after p99 ms | "
             "max power diff / Pmax |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['K']} | {r['before_p50_ms']:.3f} | {r['before_p99_ms']:.3f} | "
              f"{r['after_p50_ms']:.3f} | {r['after_p99_ms']:.3f} | "
              f"{r['max_power_diff_of_pmax']:.1e} |" for r in rows]
    print(save_results("gfm_decide", lines, rows), end="")


if __name__ == "__main__":
    main()
