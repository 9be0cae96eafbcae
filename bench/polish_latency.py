"""Latency of gfm's local-search polish: one snapshot per call, in process, one thread.

The shipped ``gfm`` (gfm-small-sum) and ``gfm-polish`` (the same with
:mod:`rrm.models.gfm.polish` on its answer) on snapshots of ``K`` links: the
first D20 test snapshots cut to K (in distribution) and gaussian-ic snapshots
(an interference channel where the polish moves many links). Per row: median
(minimum) ms per ``decide`` of each policy and of the polish alone on gfm's answer (the
three calls interleaved per snapshot, so that they share the machine's load),
and the mean number of links whose power it changed (at most ``max_moves``;
each move costs one ``[L, K, K]`` rate computation).

Run: ``OMP_NUM_THREADS=1 python bench/polish_latency.py --k 20,50,80``.
Writes bench/results/polish_latency.md (+ .json).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.gfm.polish import LocalSearch, polish_state  # noqa: E402
from rrm.models.policy import make_policy  # noqa: E402
from rrm.sim.scenarios.corpus import FAMILIES  # noqa: E402

SUM = get_objective("sum")


def median_ms(calls: dict[str, Callable[[int], object]], n: int) -> dict[str, tuple[float, float]]:
    """Median and minimum wall time, ms, of each ``calls[name](i)`` for ``i < n``, after one
    warm-up; the calls are interleaved per ``i`` so that every one sees the same machine load
    (the minimum: the closest to an idle machine)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call(0)
    for i in range(n):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call(i)
            times[name].append(time.perf_counter() - t0)
    return {name: (1e3 * float(np.median(t)), 1e3 * min(t)) for name, t in times.items()}


def inputs(k: int, n: int) -> dict[str, list[InterferenceState]]:
    """``n`` single snapshots of ``k`` links per input kind."""
    d20 = test_state("D20", n)  # K = 80: cut to each K
    ic = FAMILIES["gaussian-ic"](np.random.default_rng(5_000 + k), n, k)
    return {"D20 cut to K": [InterferenceState(g[:k, :k], d20.noise_w, d20.pmax_w)
                             for g in d20.gains],
            "gaussian-ic": [InterferenceState(ic.gains[i], ic.noise_w[i], ic.pmax_w[i])
                            for i in range(n)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="20,50,80")
    parser.add_argument("--n", type=int, default=50, help="calls per row")
    parser.add_argument("--stem", default="polish_latency")
    args = parser.parse_args()
    gfm, polished, search = make_policy("gfm"), make_policy("gfm-polish"), LocalSearch()
    lines = ["# Latency of gfm's local-search polish (one snapshot per call, one thread)", "",
             machine_line(), f"Command: `python bench/polish_latency.py {' '.join(sys.argv[1:])}`",
             f"Polish: levels {search.levels} of Pmax, at most {search.max_moves} moves.", "",
             "Cells: median (minimum) ms per call.", "",
             "| K | input | gfm | gfm-polish | polish alone | links changed |",
             "|---|---|---|---|---|---|"]
    rows = []
    for k in (int(x) for x in args.k.split(",")):
        for label, states in inputs(k, args.n).items():
            answers = [np.asarray(gfm.decide(s, SUM).power_w) for s in states]
            ms = median_ms({
                "gfm": lambda i: gfm.decide(states[i], SUM),  # noqa: B023
                "gfm-polish": lambda i: polished.decide(states[i], SUM),  # noqa: B023
                "polish": lambda i: polish_state(search, states[i], SUM, answers[i]),  # noqa: B023
            }, args.n)
            changed = float(np.mean([np.sum(polish_state(search, s, SUM, a) != a)
                                     for s, a in zip(states, answers, strict=True)]))
            rows.append({"k": k, "input": label, "links_changed": changed,
                         **{f"{name}_ms": med for name, (med, _) in ms.items()},
                         **{f"{name}_min_ms": low for name, (_, low) in ms.items()}})
            cells = " | ".join(f"{med:.2f} ({low:.2f})" for med, low in ms.values())
            lines.append(f"| {k} | {label} | {cells} | {changed:.1f} |")
    print(save_results(args.stem, lines, rows))


if __name__ == "__main__":
    main()
