"""Thread CPU of one gfm decide (D18, K = 50) back to back vs after an idle gap of 5 / 20 ms.

Why the closed loop at 20 ms slots costs more per answer than lockstep: a decide after the
thread slept costs more CPU than one right after another, with no page faults either way, so
caches, TLB and clocks, not the allocator. Prints one line per gap and writes
bench/results/cold_decide.md. Usage: ``OMP_NUM_THREADS=1 python bench/cold_decide.py``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm import experiments as ex
from rrm.models.registry import make_policy

GAPS_S = (0.0, 0.005, 0.02)
ROUNDS = 3
SNAPSHOTS = 20
RESULTS = Path(__file__).parent / "results" / "cold_decide.md"


def measure(gap_s: float, policy: object, states: list[InterferenceState]) -> tuple[float, float]:
    """(p50 thread CPU ms per decide, minor page faults per decide) after ``gap_s`` idle."""
    objective = get_objective("sum")
    cpu = []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(ROUNDS):
        for state in states:
            if gap_s:
                time.sleep(gap_s)
            t = time.thread_time()
            policy.decide(state, objective)  # type: ignore[attr-defined]
            cpu.append(time.thread_time() - t)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    return 1e3 * float(np.median(cpu)), faults / len(cpu)


def main() -> None:
    policy = make_policy("gfm")
    batch = ex.test_state("D18", SNAPSHOTS)
    states = [InterferenceState(batch.gains[i], batch.noise_w, batch.pmax_w)
              for i in range(SNAPSHOTS)]
    for state in states[:5]:
        policy.decide(state, get_objective("sum"))  # warm-up
    lines = ["# gfm decide: back to back vs after an idle gap", "",
             f"D18 (K = 50), first {SNAPSHOTS} test snapshots x {ROUNDS} rounds, one thread "
             f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), load average "
             f"{os.getloadavg()[0]:.2f}. Command: `python bench/cold_decide.py`.", "",
             "| idle gap before each decide | thread CPU p50 ms | minor faults per decide |",
             "|---|---|---|"]
    for gap in GAPS_S:
        p50, faults = measure(gap, policy, states)
        print(f"gap {gap * 1e3:.0f} ms: decide thread CPU p50 {p50:.2f} ms, "
              f"minor faults per call {faults:.1f}")
        lines.append(f"| {gap * 1e3:.0f} ms | {p50:.2f} | {faults:.1f} |")
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
