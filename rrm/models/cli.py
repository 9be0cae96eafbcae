"""``rrm solve``: batch power control on the caller's own CSI.

Every sample passes the xApp's guards (:func:`rrm.xapp.guards.check_decision`,
the same functions the slot loop runs: budget, ``distribution_shift``,
``utility`` vs full reuse, ...); a sample that trips one is replaced by a
WMMSE answer unless ``--no-fallback``, and is reported on stderr and in
``--json``. ``rrm solve`` is a command, above the layers: it imports the
xApp's guard module lazily (docs/architecture.md, "Command line").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import OBJECTIVE_NAMES, Objective, get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.files import load_npy, save_npy
from rrm.models.policy import SHIFT_THRESHOLD, Policy, make_policy
from rrm.sim.scenarios.d2d import D2DConfig

CHUNK = 64  # instances per policy call: keeps progress live and memory bounded
UTILITY_MARGIN = 0.05  # the xApp's default (rrm.xapp.guards.GuardConfig.utility_margin)
MAX_REPORT_LINES = 20  # tripped samples listed one per line on stderr; the rest counted


@dataclass(frozen=True)
class Trip:
    """One sample whose answer a guard rejected."""

    index: int
    guard: str
    detail: str
    shift_score: float | None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``rrm solve``."""
    d2d = D2DConfig()
    p.description = ("Decide transmit powers for [n,K,K] or [K,K] gains (gains[k,j]: "
                     "linear power gain from transmitter j to receiver k) and write [n,K] "
                     "watts. Each sample passes the xApp's guards; tripped samples are "
                     "replaced by WMMSE and reported.")
    p.add_argument("--policy", help="policy name (default: gfm with --checkpoint)")
    p.add_argument("--checkpoint", help="checkpoint directory of a learned policy "
                                        "(gfm, gfm-wmmse, gfm-ensemble, gfm-polish, pcgnn)")
    p.add_argument("--gains", required=True, help=".npy file, [n,K,K] or [K,K] float")
    p.add_argument("--out", required=True, help="output .npy file for the [n,K] powers in watts")
    p.add_argument("--noise-w", type=float, default=d2d.noise_w,
                   help=f"noise power in watts (default: d2d, {d2d.noise_w:.3g} W)")
    p.add_argument("--pmax-w", type=float, default=d2d.pmax_w,
                   help=f"per-link power budget in watts (default: d2d, {d2d.pmax_w:g} W)")
    p.add_argument("--objective", choices=[o for o in OBJECTIVE_NAMES if o != "wsr"],
                   default="sum", help="utility to maximise (default: sum)")
    p.add_argument("--shift-threshold", type=float, default=SHIFT_THRESHOLD,
                   help=f"distribution_shift guard threshold (default {SHIFT_THRESHOLD:g}; "
                        "negative disables)")
    p.add_argument("--utility-margin", type=float, default=UTILITY_MARGIN,
                   help=f"utility guard: accepted share below full reuse (default "
                        f"{UTILITY_MARGIN:g}; negative disables)")
    p.add_argument("--no-fallback", action="store_true",
                   help="keep the policy's powers where a guard trips (still reported)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    p.set_defaults(run=run)


def _policy(args: argparse.Namespace) -> Policy:
    name = args.policy or ("gfm" if args.checkpoint else None)
    if name is None:
        raise InvalidInput("--policy is required (or --checkpoint DIR for a gfm checkpoint)")
    if args.checkpoint is None:
        return make_policy(name)
    if not Path(args.checkpoint).is_dir():
        raise InvalidInput(f"--checkpoint {args.checkpoint!r} is not a directory")
    try:
        return make_policy(name, checkpoint=args.checkpoint)
    except TypeError as err:
        if "checkpoint" not in str(err):
            raise
        raise InvalidInput(f"policy {name!r} does not load checkpoints; use gfm, gfm-wmmse, "
                           "gfm-ensemble, gfm-polish or pcgnn with --checkpoint") from None


def _decide(policy: Policy, batch: np.ndarray, args: argparse.Namespace,
            objective: Objective) -> tuple[np.ndarray, np.ndarray | None]:
    """Powers ``[n, K]`` and shift scores ``[n]`` (None: the policy does not score)."""
    powers, scores = [], []
    with tqdm(total=len(batch), desc=f"solve {policy.name}", unit="inst",
              disable=len(batch) < 2 * CHUNK, file=sys.stderr) as bar:
        for lo in range(0, len(batch), CHUNK):
            state = InterferenceState(batch[lo : lo + CHUNK], args.noise_w, args.pmax_w)
            alloc = policy.decide(state, objective)
            assert isinstance(alloc, PowerAllocation)
            powers.append(alloc.power_w)
            score = policy.shift_score(state) if args.shift_threshold >= 0 else None
            scores.append(None if score is None else np.asarray(score, np.float64))
            bar.update(len(state.gains))
    power = np.concatenate(powers)
    if any(s is None for s in scores):
        return power, None
    return power, np.concatenate([s for s in scores if s is not None])


def _guard(policy: Policy, batch: np.ndarray, power: np.ndarray, scores: np.ndarray | None,
           args: argparse.Namespace, objective: Objective) -> list[Trip]:
    """The xApp's output guards on every sample."""
    from rrm.xapp.guards import DecisionContext, GuardConfig, check_decision

    cfg = GuardConfig(utility_margin=args.utility_margin, shift_threshold=args.shift_threshold)
    trips = []
    for i in range(len(batch)):
        score = None if scores is None else float(scores[i])
        ctx = DecisionContext(InterferenceState(batch[i], args.noise_w, args.pmax_w),
                              PowerAllocation(power[i]), objective, 0.0, float("inf"),
                              policy.time_sharing, score)
        verdict = check_decision(ctx, cfg)
        if not verdict.passed:
            trips.append(Trip(i, verdict.guard, verdict.detail, score))
    return trips


def _replace(power: np.ndarray, batch: np.ndarray, trips: list[Trip],
             args: argparse.Namespace, objective: Objective) -> np.ndarray:
    """WMMSE (100 iterations from full power) on the tripped samples."""
    rows = np.array([t.index for t in trips], dtype=int)
    state = InterferenceState(batch[rows], args.noise_w, args.pmax_w)
    alloc = make_policy("wmmse").decide(state, objective)
    assert isinstance(alloc, PowerAllocation)
    out = power.copy()
    out[rows] = np.asarray(alloc.power_w)
    return out


def _report(trips: list[Trip], n: int, replaced: bool) -> dict[str, Any]:
    """One stderr line per tripped sample (the first few) and the JSON entry."""
    action = "replaced by wmmse" if replaced else "kept (--no-fallback)"
    for t in trips[:MAX_REPORT_LINES]:
        print(f"sample {t.index}: guard {t.guard} tripped ({t.detail}); {action}",
              file=sys.stderr)
    if len(trips) > MAX_REPORT_LINES:
        print(f"... and {len(trips) - MAX_REPORT_LINES} more tripped samples", file=sys.stderr)
    counts: dict[str, int] = {}
    for t in trips:
        counts[t.guard] = counts.get(t.guard, 0) + 1
    if trips:
        print(f"guards tripped on {len(trips)} of {n} sample(s): "
              + ", ".join(f"{g} {c}" for g, c in counts.items()) + f"; {action}",
              file=sys.stderr)
    return {"tripped": len(trips), "replaced": len(trips) if replaced else 0,
            "counts": counts,
            "samples": [{"index": t.index, "guard": t.guard, "detail": t.detail,
                         "shift_score": t.shift_score} for t in trips]}


def run(args: argparse.Namespace) -> int:
    """Load, validate, decide in chunks with progress, guard, write, summarise."""
    gains = load_npy(args.gains, "gains")
    single = np.ndim(gains) == 2
    batch = physics.validate_interference_inputs(gains, args.noise_w, args.pmax_w)
    policy = _policy(args)
    objective = get_objective(args.objective)
    start = time.perf_counter()
    power, scores = _decide(policy, batch, args, objective)
    trips = _guard(policy, batch, power, scores, args, objective)
    if trips and not args.no_fallback:
        power = _replace(power, batch, trips, args, objective)
    elapsed = time.perf_counter() - start
    save_npy(args.out, power[0] if single else power)
    utility = objective.utility(physics.rates(batch, power, args.noise_w))
    guards = _report(trips, len(batch), not args.no_fallback)
    summary = {
        "policy": policy.name, "objective": args.objective, "n": len(batch),
        "K": int(batch.shape[-1]), "mean_utility": float(utility.mean()),
        "seconds": round(elapsed, 4), "out": args.out, "checkpoint": args.checkpoint,
        "guards": guards,
        "shift_score": None if scores is None else {
            "max": float(scores.max()), "mean": float(scores.mean())},
    }
    print(f"{policy.name}: {len(batch)} instance(s), K={batch.shape[-1]}, mean "
          f"{args.objective} utility {utility.mean():.4f}, {elapsed * 1e3:.1f} ms, "
          f"{len(trips)} guard trip(s) -> {args.out}")
    if args.json:
        print(json.dumps(summary))
    return 0
