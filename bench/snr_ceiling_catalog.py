"""The SNR ceiling on the catalog test splits: how often it acts, and what it changes.

For each shipped checkpoint and each D16-D20 entry: the first ``--n`` test
snapshots, decided with the SNR ceiling on (the policy's default) and off
(:mod:`rrm.models.gfm.adapt`), side by side: the share of snapshots above the
checkpoint's ceiling, the largest power difference between the two answers
(share of Pmax), and both mean sum rates.

Run: ``OMP_NUM_THREADS=1 python bench/snr_ceiling_catalog.py --n 1000``.
Writes bench/results/snr_ceiling_catalog.md (+ .json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402
from zero_shot_family import fired_share  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.models.gfm.evaluate import mean_utility  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.gfm.policy import CHECKPOINTS, GFMPolicy  # noqa: E402

SUM = get_objective("sum")
SHIPPED = ("gfm-small-sum", "gfm-small-switch", "gfm-small-world", "gfm-small-world-switch",
           "gfm-small-d18-64shot", "gfm-small-d18-64shot-scratch", "pcgnn-small-switch")
CHUNK = 250  # snapshots per call: bounded memory at K = 80


def powers(policy: GFMPolicy, state: InterferenceState) -> np.ndarray:
    """Sum-rate powers ``[n, K]`` W, in chunks."""
    out = []
    for lo in range(0, len(state.gains), CHUNK):
        part = InterferenceState(state.gains[lo : lo + CHUNK], state.noise_w, state.pmax_w)
        out.append(np.asarray(policy.decide(part, SUM).power_w))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--entries", default="D16,D17,D18,D19,D20")
    parser.add_argument("--stem", default="snr_ceiling_catalog")
    args = parser.parse_args()
    lines = ["# The SNR ceiling on D16-D20 test snapshots (shipped checkpoints)", "",
             machine_line(),
             f"Command: `python bench/snr_ceiling_catalog.py {' '.join(sys.argv[1:])}`", "",
             "| checkpoint | entry | snapshots | above ceiling | max power change (share "
             "of Pmax) | sum rate, ceiling off | sum rate, ceiling on |",
             "|---|---|---|---|---|---|---|"]
    rows = []
    states = {e: test_state(e, args.n) for e in args.entries.split(",")}
    for name in SHIPPED:
        on, off = GFMPolicy(CHECKPOINTS / name), GFMPolicy(CHECKPOINTS / name, snr_ceiling=False)
        for entry, state in states.items():
            p_on, p_off = powers(on, state), powers(off, state)
            row = {"checkpoint": name, "entry": entry, "n": len(state.gains),
                   "above_ceiling": fired_share(on, state),
                   "max_change": float(np.max(np.abs(p_on - p_off)) / state.pmax_w),
                   "sum_rate_off": mean_utility(state, p_off, "sum"),
                   "sum_rate_on": mean_utility(state, p_on, "sum")}
            rows.append(row)
            lines.append(f"| {name} | {entry} | {row['n']} | {row['above_ceiling']:.4f} | "
                         f"{row['max_change']:.2e} | {row['sum_rate_off']:.4f} | "
                         f"{row['sum_rate_on']:.4f} |")
    print(save_results(args.stem, lines, rows))


if __name__ == "__main__":
    main()
