"""Several GFM checkpoints side by side on the catalog test splits, ratio to WMMSE-Best.

The README's "2,048 shots per entry" table, for named checkpoints in one run: for every
entry, the first ``--n`` test snapshots (the snapshots ``rrm gfm eval --n N`` scores),
each checkpoint's mean utility as the ``gfm`` policy decides it (the xApp's defaults:
SNR ceiling on) relative to WMMSE-Best's (:func:`rrm.models.gfm.evaluate.normalised`),
through the same :func:`rrm.models.gfm.experiments.per_k` as ``rrm gfm eval --suite
per-k``, next to one WMMSE run and full reuse. ``--reference-cache`` reuses WMMSE-Best's
figures (``rrm gfm eval --reference-cache``: same files).

Run: ``OMP_NUM_THREADS=1 python bench/checkpoints_per_k.py --checkpoint
sum=rrm/models/checkpoints/gfm-small-sum --n 200 --reference-cache ~/.cache/rrm``.
Writes bench/results/<stem>.md (+ .json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.models.gfm.data import parse_entries  # noqa: E402
from rrm.models.gfm.experiments import per_k  # noqa: E402
from rrm.models.gfm.policy import GFMPolicy  # noqa: E402
from rrm.models.policy import Policy, make_policy  # noqa: E402


def policies(specs: list[str], baselines: bool) -> dict[str, Policy]:
    """``gfm (NAME)`` for every ``NAME=DIR``, then one WMMSE run and full reuse."""
    out: dict[str, Policy] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        out[f"gfm ({name})"] = GFMPolicy(path, name=f"gfm ({name})")
    if baselines:
        out |= {"wmmse": make_policy("wmmse"), "full-reuse": make_policy("full-reuse")}
    return out


def report(rows: list[dict[str, object]], names: list[str], command: str) -> list[str]:
    """One row per policy, one column per entry (K), and the mean over entries."""
    entries = list(dict.fromkeys(str(r["entry"]) for r in rows))
    ks = {str(r["entry"]): r["K"] for r in rows}
    lines = ["# Checkpoints side by side on the catalog test splits, ratio to WMMSE-Best", "",
             machine_line(), f"Command: `{command}`", "",
             "Ratio: 1 + (U - U_ref) / |U_ref| (sum: U / U_ref), U_ref = WMMSE-Best "
             "(101 starts); decisions as the `gfm` policy makes them (SNR ceiling on).", "",
             "| objective | policy | " + " | ".join(f"{e} (K = {ks[e]})" for e in entries)
             + " | mean |", "|---|---|" + "---|" * (len(entries) + 1)]
    for objective in dict.fromkeys(str(r["objective"]) for r in rows):
        for name in names:
            ratios = {str(r["entry"]): float(r["ratio"]) for r in rows  # type: ignore[arg-type]
                      if r["policy"] == name and r["objective"] == objective}
            cells = " | ".join(f"{ratios[e]:.4f}" for e in entries)
            lines.append(f"| {objective} | {name} | {cells} | "
                         f"{np.mean(list(ratios.values())):.4f} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--entries", default="D16-D20")
    p.add_argument("--objective", default="sum", choices=["sum", "pf", "qos"])
    p.add_argument("--n", type=int, default=200, help="first N test snapshots per entry")
    p.add_argument("--no-baselines", action="store_true", help="leave out wmmse, full reuse")
    p.add_argument("--reference-cache", type=Path, default=None, metavar="DIR")
    p.add_argument("--stem", default="checkpoints_per_k")
    args = p.parse_args()
    torch.set_num_threads(1)
    compared = policies(args.checkpoint, not args.no_baselines)
    rows = per_k(compared, parse_entries(args.entries), [args.objective], args.n,
                 lambda line: print(line, file=sys.stderr, flush=True), args.reference_cache)
    command = "OMP_NUM_THREADS=1 python bench/checkpoints_per_k.py " + " ".join(sys.argv[1:])
    print(save_results(args.stem, report(rows, list(compared), command), rows))


if __name__ == "__main__":
    main()
