"""``rrm solve``: batch power control on the caller's own CSI."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from tqdm import tqdm

from rrm.core import physics
from rrm.core.objectives import OBJECTIVE_NAMES, get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.files import load_npy, save_npy
from rrm.models.policy import make_policy
from rrm.sim.scenarios.d2d import D2DConfig

CHUNK = 64  # instances per policy call: keeps progress live and memory bounded


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``rrm solve``."""
    d2d = D2DConfig()
    p.description = ("Decide transmit powers for [n,K,K] or [K,K] gains (gains[k,j]: "
                     "linear power gain from transmitter j to receiver k) and write [n,K] "
                     "watts.")
    p.add_argument("--policy", required=True, help="policy name (see --list)")
    p.add_argument("--gains", required=True, help=".npy file, [n,K,K] or [K,K] float")
    p.add_argument("--out", required=True, help="output .npy file for the [n,K] powers in watts")
    p.add_argument("--noise-w", type=float, default=d2d.noise_w,
                   help=f"noise power in watts (default: d2d, {d2d.noise_w:.3g} W)")
    p.add_argument("--pmax-w", type=float, default=d2d.pmax_w,
                   help=f"per-link power budget in watts (default: d2d, {d2d.pmax_w:g} W)")
    p.add_argument("--objective", choices=[o for o in OBJECTIVE_NAMES if o != "wsr"],
                   default="sum", help="utility to maximise (default: sum)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load, validate, decide in chunks with progress, write, summarise."""
    gains = load_npy(args.gains, "gains")
    single = np.ndim(gains) == 2
    batch = physics.validate_interference_inputs(gains, args.noise_w, args.pmax_w)
    policy = make_policy(args.policy)
    objective = get_objective(args.objective)
    start = time.perf_counter()
    powers = []
    with tqdm(total=len(batch), desc=f"solve {args.policy}", unit="inst",
              disable=len(batch) < 2 * CHUNK) as bar:
        for lo in range(0, len(batch), CHUNK):
            state = InterferenceState(batch[lo : lo + CHUNK], args.noise_w, args.pmax_w)
            alloc = policy.decide(state, objective)
            assert isinstance(alloc, PowerAllocation)
            powers.append(alloc.power_w)
            bar.update(len(state.gains))
    elapsed = time.perf_counter() - start
    power = np.concatenate(powers)
    save_npy(args.out, power[0] if single else power)
    utility = objective.utility(physics.rates(batch, power, args.noise_w))
    summary = {
        "policy": args.policy, "objective": args.objective, "n": len(batch),
        "K": int(batch.shape[-1]), "mean_utility": float(utility.mean()),
        "seconds": round(elapsed, 4), "out": args.out,
    }
    print(f"{args.policy}: {len(batch)} instance(s), K={batch.shape[-1]}, mean {args.objective} "
          f"utility {utility.mean():.4f}, {elapsed * 1e3:.1f} ms -> {args.out}")
    if args.json:
        print(json.dumps(summary))
    return 0
