"""gfm decide latency, one snapshot, one thread: this tree next to a base tree, one run.

Each version runs in its own child process (``--child``; PYTHONPATH picks the
tree), alternating in rounds so a noisy neighbour slows both alike. Per K:
p50 / p99 milliseconds of ``GFMPolicy.decide`` on seeded d2d snapshots, and
the largest power difference between the versions in units of Pmax. Next to
the wall clock, each call's thread CPU time (``time.thread_time``): on the
shared 2-core machine the wall clock also counts time other jobs held the
core, the CPU time mostly not.

The batched rows (``B = 8``, K = 50, the 8-node in-process loop's batch):
``forward``, the frozen graph alone on ready features (``run_frozen``);
``decide_batch``, the policy on 8 single snapshots (stacking, features,
forward, clipping), per call of 8.

Run: ``python bench/bench_gfm_decide.py --base /work/base-w6 [--n 300] [--rounds 3]``.
Writes bench/results/gfm_decide.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

KS = (20, 50, 80)
BATCH, BATCH_K = 8, 50
CASES = (*(f"decide K={k}" for k in KS), f"forward B={BATCH} K={BATCH_K}",
         f"decide_batch B={BATCH} K={BATCH_K}")
HERE = Path(__file__).resolve().parents[1]


def snapshot(k: int, i: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Seeded d2d-like gains ``[K, K]``, noise (W) and Pmax ``[K]`` (W)."""
    rng = np.random.default_rng(1000 * k + i)
    gains = rng.uniform(1e-13, 1e-10, (k, k)) + np.diag(rng.uniform(1e-10, 1e-8, k))
    return gains, 4e-14, np.full(k, 0.01)


def timed(fn: Callable[[], object], n: int) -> dict[str, list[float]]:
    """Wall and thread CPU milliseconds of ``n`` calls of ``fn`` (after 8 warm-up calls)."""
    for _ in range(8):
        fn()
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(1e3 * (time.thread_time() - c0))
        wall.append(1e3 * (time.perf_counter() - t0))
    return {"ms": wall, "cpu_ms": cpu}


def cycle(decide: Callable[[Any, Any], object], states: list[Any],
          objective: object) -> Callable[[], object]:
    """A call that decides the next of ``states`` each time (round robin)."""
    calls = iter(range(10**9))
    return lambda: decide(states[next(calls) % len(states)], objective)


def child(n: int) -> None:
    """Time every case in this process; print one JSON line of samples and powers."""
    import torch

    from rrm.core.objectives import get_objective
    from rrm.core.types import InterferenceState
    from rrm.models.gfm.features import graph_batch
    from rrm.models.gfm.frozen import freeze_power_model, run_frozen
    from rrm.models.gfm.policy import CHECKPOINTS
    from rrm.models.gfm.store import load_power_model
    from rrm.models.policy import make_policy

    torch.set_num_threads(1)
    policy, objective = make_policy("gfm"), get_objective("sum")
    out: dict[str, object] = {}
    for k in KS:
        states = [InterferenceState(*snapshot(k, i)) for i in range(8)]
        res = timed(cycle(policy.decide, states, objective), n)
        powers = [np.asarray(policy.decide(s, objective).power_w).tolist() for s in states]
        out[f"decide K={k}"] = {**res, "powers": powers}
    states = [InterferenceState(*snapshot(BATCH_K, i)) for i in range(BATCH)]
    graph = freeze_power_model(load_power_model(CHECKPOINTS / "gfm-small-sum")[0])
    batch = graph_batch(torch.from_numpy(np.stack([s.gains for s in states])), 4e-14, 0.01)
    with torch.inference_mode():
        res = timed(lambda: run_frozen(graph, batch), n)
        powers = run_frozen(graph, batch).numpy().tolist()
    out[CASES[-2]] = {**res, "powers": powers}
    objectives = [objective] * BATCH
    res = timed(lambda: policy.decide_batch(states, objectives), n)
    powers = [np.asarray(a.power_w).tolist() for a in policy.decide_batch(states, objectives)]
    out[CASES[-1]] = {**res, "powers": powers}
    print(json.dumps(out))


def run_child(tree: str, n: int) -> dict[str, dict[str, list]]:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, __file__, "--child", "--n", str(n)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.splitlines()[-1])


def summary(samples: dict[str, dict[str, dict[str, list[float]]]],
            powers: dict[str, dict[str, np.ndarray]]) -> list[dict[str, object]]:
    """One row per case: p50 / p99 wall and CPU ms per version, speed-up, power difference."""
    rows = []
    for case in CASES:
        diff = float(np.max(np.abs(powers["after"][case] - powers["before"][case]))) / 0.01
        row: dict[str, object] = {"case": case, "max_power_diff_of_pmax": diff}
        for label in ("before", "after"):
            for kind in ("ms", "cpu_ms"):
                t = np.asarray(samples[label][case][kind])
                row[f"{label}_p50_{kind}"] = float(np.percentile(t, 50))
                row[f"{label}_p99_{kind}"] = float(np.percentile(t, 99))
        for kind in ("ms", "cpu_ms"):
            row[f"speedup_p50_{kind}"] = row[f"before_p50_{kind}"] / row[f"after_p50_{kind}"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, object]], args: argparse.Namespace) -> list[str]:
    lines = ["# gfm decide latency: before / after (#18)", "", machine_line(), "",
             f"One thread, {args.rounds} alternating rounds of {args.n} calls per version "
             f"and case; `decide`: one snapshot per call; `forward`/`decide_batch`: "
             f"{BATCH} snapshots per call. Before: `{args.base}`. Load average at the start: "
             f"{os.getloadavg()[0]:.2f}. Command: `python bench/bench_gfm_decide.py "
             + " ".join(sys.argv[1:]) + "`", "",
             "| case | before p50 / p99 ms | after p50 / p99 ms | speed-up p50 | "
             "before CPU p50 / p99 ms | after CPU p50 / p99 ms | speed-up CPU p50 | "
             "max power diff / Pmax |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['before_p50_ms']:.3f} / {r['before_p99_ms']:.3f} | "
            f"{r['after_p50_ms']:.3f} / {r['after_p99_ms']:.3f} | {r['speedup_p50_ms']:.2f}x | "
            f"{r['before_p50_cpu_ms']:.3f} / {r['before_p99_cpu_ms']:.3f} | "
            f"{r['after_p50_cpu_ms']:.3f} / {r['after_p99_cpu_ms']:.3f} | "
            f"{r['speedup_p50_cpu_ms']:.2f}x | {r['max_power_diff_of_pmax']:.1e} |")
    return lines


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
    samples: dict[str, dict[str, dict[str, list[float]]]] = {"before": {}, "after": {}}
    powers: dict[str, dict[str, np.ndarray]] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for label, tree in (("before", args.base), ("after", str(HERE))):
            res = run_child(tree, args.n)
            for case in CASES:
                for kind in ("ms", "cpu_ms"):
                    samples[label].setdefault(case, {}).setdefault(kind, []).extend(
                        res[case][kind])
                powers[label][case] = np.asarray(res[case]["powers"])
    rows = summary(samples, powers)
    print(save_results("gfm_decide", table(rows, args), rows), end="")


if __name__ == "__main__":
    main()
