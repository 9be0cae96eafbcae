"""``rrm egat eval --json``: one setting, every policy, one JSON line (issue #16, item 6).

Fresh instances of the ``cellfree`` scenario (B, K, M, C from the command
line) are drawn from ``--seed``; EGAT (the shipped ``egat-small`` unless
``--checkpoint``), AO-SCA, PC-WMMSE and FC-ZF answer the same instances.
Per policy: ``wsr`` is the mean weighted sum rate after the heuristic
fronthaul scaling of sec. V-A, ``feasible_share`` the share of instances
whose own answer met every budget before it (Tables II-IV), and
``ms_per_instance`` the wall time of the batched ``decide`` divided by the
number of instances. AO-SCA may run on the first ``--n-aosca`` instances
only (it takes about a second each); ``instances`` says how many each used.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from rrm.core.errors import InvalidInput
from rrm.core.types import CellFreeState
from rrm.models.cellfree.evaluate import instances, score
from rrm.models.policy import Policy, make_policy
from rrm.sim.scenarios.cellfree import CellFreeConfig

CHECK_POLICIES = ("egat", "ao-sca", "pc-wmmse", "fc-zf")


def single_int(text: str, flag: str) -> int:
    """One positive integer (``--aps 8``); the JSON mode takes one setting."""
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{flag} takes one positive integer with --json, got {text!r}"
                           ) from None
    if value < 1:
        raise InvalidInput(f"{flag} must be at least 1, got {value}")
    return value


def check_setting(args: argparse.Namespace) -> CellFreeConfig:
    """The scenario of the command line (defaults: Table I, 60 Mbit/s)."""
    aps = single_int(args.aps, "--aps") if args.aps is not None else CellFreeConfig.num_aps
    ues = single_int(args.ues, "--ues") if args.ues is not None else CellFreeConfig.num_ues
    if args.antennas < 1:
        raise InvalidInput(f"--antennas must be at least 1, got {args.antennas}")
    if not args.capacity_mbps > 0:
        raise InvalidInput(f"--capacity-mbps must be positive, got {args.capacity_mbps}")
    if args.instances < 1:
        raise InvalidInput(f"--instances must be at least 1, got {args.instances}")
    return CellFreeConfig(num_aps=aps, num_ues=ues, num_antennas=args.antennas,
                          fronthaul_mbps=float(args.capacity_mbps))


def _policy(name: str, args: argparse.Namespace) -> Policy:
    if name == "egat":
        return make_policy("egat", checkpoint=args.checkpoint)
    if name == "ao-sca":
        return make_policy("ao-sca", max_iter=args.aosca_iter)
    return make_policy(name)


def _row(policy: Policy, state: CellFreeState) -> dict[str, Any]:
    s = score(policy, state)
    return {"wsr": float(s.wsr.mean()), "feasible_share": float(s.feasible_raw.mean()),
            "ms_per_instance": 1e3 * s.seconds, "instances": int(s.wsr.shape[0]),
            "aps_per_ue": s.aps_per_ue}


def run_check(args: argparse.Namespace) -> dict[str, Any]:
    """``{"policies": {name: {wsr, feasible_share, ms_per_instance, ...}}, "setting": ...}``."""
    cfg = check_setting(args)
    n_aosca = args.instances if args.n_aosca is None else min(args.n_aosca, args.instances)
    if n_aosca < 1:
        raise InvalidInput("--n-aosca must be at least 1 with --json")
    state = instances(cfg, args.instances, args.seed)
    t0 = time.perf_counter()
    rows: dict[str, Any] = {}
    for name in CHECK_POLICIES:
        pol = _policy(name, args)
        sub = dataclasses.replace(state, h=state.h[:n_aosca]) if name == "ao-sca" else state
        rows[name] = _row(pol, sub)
        pol.close()
    return {"policies": rows,
            "setting": {"aps": cfg.num_aps, "ues": cfg.num_ues, "antennas": cfg.num_antennas,
                        "capacity_mbps": cfg.fronthaul_mbps, "instances": args.instances,
                        "seed": args.seed, "checkpoint": str(args.checkpoint),
                        "aosca_iter": args.aosca_iter},
            "wall_s": round(time.perf_counter() - t0, 3)}
