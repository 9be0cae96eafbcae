"""The distribution_shift guard: how often it trips where the model is poor and where it is not.

For every snapshot: the shipped ``gfm`` (gfm-small-sum) decides, the policy scores the
snapshot (:mod:`rrm.models.gfm.shift`), and the xApp's guards
(:func:`rrm.xapp.guards.check_decision`, default thresholds) judge the answer, as in the
slot loop and ``rrm solve``. Families:

* D16-D20 test splits (the model's own distribution; first ``--n-test`` per entry);
* the Rayleigh interference channel of the learning-to-optimize literature
  (:mod:`rrm.sim.scenarios.rayleigh_ic`: unit noise, every |h|^2 ~ Exp(1)), K x SNR grid,
  where the model is poor: its sum-rate ratio to WMMSE-Best on the first ``--n-ref``
  snapshots is reported next to full reuse's.

``--checkpoint DIR`` scores another sum checkpoint as the ``gfm`` policy (its own shift
statistics) and ``--stem`` names the results file.

Run: ``OMP_NUM_THREADS=1 python bench/bench_shift.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState, PowerAllocation  # noqa: E402
from rrm.models.gfm.evaluate import mean_utility, normalised  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.gfm.policy import GFMPolicy  # noqa: E402
from rrm.models.policy import SHIFT_THRESHOLD, Policy, make_policy  # noqa: E402
from rrm.sim.scenarios.rayleigh_ic import RayleighICConfig, generate_rayleigh_ic  # noqa: E402
from rrm.xapp.guards import DecisionContext, GuardConfig, check_decision  # noqa: E402

SUM = get_objective("sum")
CHUNK = 250  # snapshots per policy call


def guard_rates(policy: Policy, state: InterferenceState) -> dict[str, object]:
    """Share of snapshots each guard trips on (first trip wins) and the score quantiles."""
    power, scores = np.zeros(np.shape(state.gains)[:-1]), np.zeros(len(state.gains))
    for lo in range(0, len(state.gains), CHUNK):  # bounded memory for the K = 80 attention
        part = InterferenceState(state.gains[lo : lo + CHUNK], state.noise_w, state.pmax_w)
        power[lo : lo + CHUNK] = policy.decide(part, SUM).power_w  # type: ignore[union-attr]
        scores[lo : lo + CHUNK] = np.asarray(policy.shift_score(part))
    counts: dict[str, int] = {}
    for i in range(len(state.gains)):
        ctx = DecisionContext(InterferenceState(state.gains[i], state.noise_w, state.pmax_w),
                              PowerAllocation(power[i]), SUM, 0.0, float("inf"),
                              shift_score=float(scores[i]))
        v = check_decision(ctx, GuardConfig())
        if not v.passed:
            counts[v.guard] = counts.get(v.guard, 0) + 1
    n = len(state.gains)
    return {"n": n, "shift_trip_rate": counts.get("distribution_shift", 0) / n,
            "any_trip_rate": sum(counts.values()) / n, "trips": counts,
            "score_p50": float(np.median(scores)), "score_p99": float(np.quantile(scores, 0.99)),
            "score_min": float(scores.min()), "score_max": float(scores.max())}


def quality(policy: Policy, state: InterferenceState, n: int) -> dict[str, float]:
    """gfm's and full reuse's sum-rate ratio to WMMSE-Best on the first ``n`` snapshots."""
    sub = InterferenceState(state.gains[:n], state.noise_w, state.pmax_w)
    k = sub.num_links

    def u(p: Policy) -> float:
        return mean_utility(sub, np.asarray(p.decide(sub, SUM).power_w), "sum")  # type: ignore[union-attr]

    best = u(make_policy("wmmse-best"))
    return {"gfm_ratio": normalised(u(policy), best, "sum", k),
            "full_reuse_ratio": normalised(u(make_policy("full-reuse")), best, "sum", k)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-test", type=int, default=5000, help="D16-D20 test snapshots per entry")
    p.add_argument("--n-ric", type=int, default=500, help="Rayleigh snapshots per (K, SNR)")
    p.add_argument("--n-ref", type=int, default=20, help="snapshots scored against WMMSE-Best")
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="sum checkpoint of the gfm policy (default: the shipped one)")
    p.add_argument("--stem", default="shift_guard")
    args = p.parse_args()
    torch.set_num_threads(1)
    policy = GFMPolicy(args.checkpoint) if args.checkpoint else make_policy("gfm")
    rows: list[dict[str, object]] = []
    for entry in ("D16", "D17", "D18", "D19", "D20"):
        state = test_state(entry, args.n_test)
        rows.append({"family": entry, "K": state.num_links, "snr_db": None,
                     **guard_rates(policy, state)})
        print(rows[-1], file=sys.stderr)
    rng = np.random.default_rng(13)
    for k in (10, 20, 50):
        for snr in (10.0, 20.0, 30.0, 40.0):
            cfg = RayleighICConfig(k, snr)
            state = InterferenceState(generate_rayleigh_ic(cfg, args.n_ric, rng), cfg.noise_w,
                                      cfg.pmax_w)
            rows.append({"family": "rayleigh-ic", "K": k, "snr_db": snr,
                         **guard_rates(policy, state), **quality(policy, state, args.n_ref)})
            print(rows[-1], file=sys.stderr)
    save_results(args.stem, report(rows, args), rows)


def report(rows: list[dict[str, object]], args: argparse.Namespace) -> list[str]:
    d2d = [r for r in rows if r["family"] != "rayleigh-ic"]
    ric = [r for r in rows if r["family"] == "rayleigh-ic"]
    d2d_rate = sum(float(r["shift_trip_rate"]) * int(r["n"]) for r in d2d) / sum(  # type: ignore[arg-type]
        int(r["n"]) for r in d2d)  # type: ignore[call-overload]
    ric_rate = sum(float(r["shift_trip_rate"]) * int(r["n"]) for r in ric) / sum(  # type: ignore[arg-type]
        int(r["n"]) for r in ric)  # type: ignore[call-overload]
    extra = (f" --checkpoint {args.checkpoint} --stem {args.stem}" if args.checkpoint
             else "")
    lines = ["# Shift guard: trip rates", "", machine_line(), "",
             f"Command: `OMP_NUM_THREADS=1 python bench/bench_shift.py --n-test {args.n_test} "
             f"--n-ric {args.n_ric} --n-ref {args.n_ref}{extra}`. Policy `gfm` "
             f"({args.checkpoint or 'gfm-small-sum'}), "
             f"guards at their defaults (shift_threshold {SHIFT_THRESHOLD:g}, utility margin "
             "5 %). `shift` = share of snapshots where distribution_shift trips; `any` = "
             "any guard (the first that trips wins). Ratios: mean sum rate relative to "
             f"WMMSE-Best on the first {args.n_ref} snapshots.", "",
             f"**D16-D20 test: distribution_shift trips on {d2d_rate:.2%} of "
             f"{sum(int(r['n']) for r in d2d)} snapshots; Rayleigh channel: "  # type: ignore[call-overload]
             f"{ric_rate:.2%} of {sum(int(r['n']) for r in ric)}.**", "",  # type: ignore[call-overload]
             "| family | K | SNR dB | n | shift | any | score p50 | p99 | min | max | gfm "
             "/ best | full reuse / best |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        q = (f"{r['gfm_ratio']:.3f} | {r['full_reuse_ratio']:.3f}" if "gfm_ratio" in r
             else " | ")
        lines.append(f"| {r['family']} | {r['K']} | {r['snr_db'] or ''} | {r['n']} | "
                     f"{r['shift_trip_rate']:.2%} | {r['any_trip_rate']:.2%} | "
                     f"{r['score_p50']:.2f} | {r['score_p99']:.2f} | {r['score_min']:.2f} | "
                     f"{r['score_max']:.2f} | {q} |")
    return lines


if __name__ == "__main__":
    main()
