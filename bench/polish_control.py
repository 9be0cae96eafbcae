"""Control for gfm's local-search polish: the same search from trivial starts.

Where does `gfm-polish`'s ratio come from, the model or the search? On the same
snapshots as ``bench/zero_shot_family.py`` (seed 10,000 + K per family), each
held-out family with the model that never saw it, the polish
(:class:`rrm.models.gfm.polish.LocalSearch`, the policy's levels) is started from
the model's answer (`gfm`, SNR ceiling on), from full reuse, from every link off
and from one WMMSE run, with the policy's move cap (16) and with a cap of 400
(in practice: until no move helps). Ratios to WMMSE-Best's mean sum rate; ms per
snapshot of the search alone (batched, one thread).

Run: ``python bench/polish_control.py --reference-cache DIR`` (u-no-* checkpoints
under ``--models``, default /work/gpu/gfm). Writes bench/results/polish_control.md
(+ .json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402
from zero_shot_family import draw, reference_utility  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.models.gfm.evaluate import mean_utility  # noqa: E402
from rrm.models.gfm.policy import GFMPolicy  # noqa: E402
from rrm.models.gfm.polish import LocalSearch  # noqa: E402
from rrm.models.policy import make_policy  # noqa: E402

HELD_OUT = {"gaussian-ic": "u-no-gaussian", "rayleigh-ic": "u-no-rayleigh",
            "itu1411-d2d": "u-no-itu", "catalog": "u-no-catalog"}
CAPS = (16, 400)


def starts(state, models: Path, family: str) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Start powers ``[n, K]`` W per start name."""
    n, k = len(state.gains), state.num_links
    sum_ = get_objective("sum")
    gfm = GFMPolicy(models / HELD_OUT[family]).decide(state, sum_).power_w
    wmmse = make_policy("wmmse").decide(state, sum_).power_w
    pmax = state.pmax_per_link.reshape(n, k)
    return {"gfm": np.asarray(gfm).reshape(n, k), "full reuse": pmax.copy(),
            "all off": np.zeros_like(pmax), "wmmse": np.asarray(wmmse).reshape(n, k)}


def row(family: str, k: int, n: int, models: Path, cache: Path | None) -> dict[str, object]:
    """One family and K: ratio (and search ms) per start and cap."""
    state = draw(family, n, k)
    ref = reference_utility(state, cache)
    k = state.num_links  # the catalog family draws its entries' own K
    gains = np.asarray(state.gains)
    noise, pmax = state.noise_per_link.reshape(n, k), state.pmax_per_link.reshape(n, k)
    out: dict[str, object] = {"family": family, "K": k, "n": n, "model": HELD_OUT[family]}
    for name, start in starts(state, models, family).items():
        out[f"{name}"] = mean_utility(state, start, "sum") / ref
        for cap in CAPS:
            t0 = time.perf_counter()
            p = LocalSearch(max_moves=cap).polish(gains, noise, pmax, start, get_objective("sum"))
            out[f"{name} ms {cap}"] = 1e3 * (time.perf_counter() - t0) / n
            out[f"{name} +polish {cap}"] = mean_utility(state, p, "sum") / ref
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="20,50")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--models", type=Path, default=Path("/work/gpu/gfm"))
    parser.add_argument("--reference-cache", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    rows = []
    for k in (int(x) for x in args.k.split(",")):
        for family in HELD_OUT:
            rows.append(row(family, k, args.n, args.models, args.reference_cache))
            print(rows[-1], file=sys.stderr, flush=True)
    names = ("gfm", "all off", "full reuse", "wmmse")
    lines = ["# gfm-polish control: the same local search from trivial starts", "",
             machine_line(), "",
             "Command: `python bench/polish_control.py " + " ".join(sys.argv[1:]) + "`. "
             "Held-out family, the model that never saw it; ratio to WMMSE-Best's mean sum "
             f"rate on {args.n} snapshots (the zero-shot bench's); cells: start as it is / "
             f"polished with at most {CAPS[0]} moves (the policy's cap) / at most {CAPS[1]} "
             f"moves (ms per snapshot of that search).", "",
             "| K | family | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = [f"{r[s]:.3f} / {r[f'{s} +polish {CAPS[0]}']:.3f} / "
                 f"{r[f'{s} +polish {CAPS[1]}']:.3f} ({r[f'{s} ms {CAPS[1]}']:.1f} ms)"
                 for s in names]
        lines.append(f"| {r['K']} | {r['family']} | " + " | ".join(cells) + " |")
    print(save_results("polish_control", lines, rows), end="")


if __name__ == "__main__":
    main()
