"""Latency of gfm's test-time adaptation: one snapshot per call, in process.

The shipped ``gfm`` (gfm-small-sum) on D18-like snapshots of ``K`` links
(the first D19 / D20 test snapshots cut to K): with the SNR ceiling off, on
(the default; inside the trained range it only computes the mean direct INR),
on with every gain x 10^4 (+40 dB: above the ceiling, 1 + 3 forward passes),
and ``gfm-ensemble`` (1 + 5 forward passes + 4 on/off candidates).

Run: ``OMP_NUM_THREADS=1 python bench/adapt_latency.py --k 20,50``.
Writes bench/results/adapt_latency.md (+ .json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.policy import Policy, make_policy  # noqa: E402

SUM = get_objective("sum")


def median_ms(policy: Policy, states: list[InterferenceState]) -> float:
    """Median wall time of one ``decide`` per state, after one warm-up, ms."""
    policy.decide(states[0], SUM)
    times = []
    for state in states:
        t0 = time.perf_counter()
        policy.decide(state, SUM)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="20,50")
    parser.add_argument("--n", type=int, default=50, help="calls per row")
    parser.add_argument("--stem", default="adapt_latency")
    args = parser.parse_args()
    source = test_state("D20", args.n)  # K = 80: cut to each K
    policies = {"gfm, ceiling off": make_policy("gfm", snr_ceiling=False),
                "gfm (ceiling on, default)": make_policy("gfm"),
                "gfm-ensemble": make_policy("gfm-ensemble")}
    lines = ["# Latency of gfm's test-time adaptation (one snapshot per call)", "",
             machine_line(), f"Command: `python bench/adapt_latency.py {' '.join(sys.argv[1:])}`",
             "", "| K | policy | input | median ms per decision |", "|---|---|---|---|"]
    rows = []
    for k in (int(x) for x in args.k.split(",")):
        for gain, label in ((1.0, "in range"), (1e4, "+40 dB (above the ceiling)")):
            states = [InterferenceState(g[:k, :k] * gain, source.noise_w, source.pmax_w)
                      for g in source.gains]
            for name, policy in policies.items():
                ms = median_ms(policy, states)
                rows.append({"k": k, "policy": name, "input": label, "ms": ms})
                lines.append(f"| {k} | {name} | {label} | {ms:.2f} |")
    print(save_results(args.stem, lines, rows))


if __name__ == "__main__":
    main()
