"""``rrm egat eval``: EGAT vs AO-SCA, PC-WMMSE and FC-ZF (EGAT sec. V).

Two modes: ``--out DIR`` runs the figure suite (every sweep of Tables II-IV
and Figs. 6-10, markdown + PNG + JSON); ``--json`` scores one setting
(``--aps B --ues K --antennas M --capacity-mbps C --instances N --seed S``)
and prints one JSON object on its last line (:mod:`rrm.models.cellfree.check`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from rrm.core.errors import InvalidInput
from rrm.core.optional import require
from rrm.models.cellfree.check import run_check
from rrm.models.cellfree.dnn import DnnConfig
from rrm.models.cellfree.egat_policy import EgatPolicy
from rrm.models.cellfree.evaluate import instances, score, single_instance_seconds
from rrm.models.cellfree.store import DEFAULT_CHECKPOINT
from rrm.models.policy import Policy, make_policy
from rrm.sim.scenarios.cellfree import CellFreeConfig

LEARNED = ("egat", "engnn")


def add_eval_parser(commands: Any) -> None:
    """Register ``eval`` (``rrm egat eval``)."""
    p = commands.add_parser("eval", help="evaluate EGAT and the cell-free baselines")
    p.add_argument("--out", help="figure suite: directory for cellfree.md, .png and .json")
    p.add_argument("--json", action="store_true",
                   help="score one setting and print one JSON object on the last line")
    p.add_argument("--antennas", type=int, default=CellFreeConfig.num_antennas,
                   help="M (--json)")
    p.add_argument("--capacity-mbps", type=float, default=CellFreeConfig.fronthaul_mbps,
                   help="fronthaul capacity per AP, Mbit/s (--json)")
    p.add_argument("--instances", type=int, default=20, help="test instances (--json)")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="EGAT checkpoint")
    p.add_argument("--ablation", help="ENGNN-style checkpoint (egat train --no-attention)")
    p.add_argument("--dnn", help="DNN checkpoint (egat train --arch dnn; its B and K only)")
    p.add_argument("--n", type=int, default=200, help="test instances per setting")
    p.add_argument("--n-aosca", type=int, default=None,
                   help="instances per setting for AO-SCA (default: 20; --json: all)")
    p.add_argument("--aosca-iter", type=int, default=10)
    p.add_argument("--capacities", default="40,50,60,70,80,90", help="Mbit/s (Fig. 6)")
    p.add_argument("--aps", default=None,
                   help="B values (Table III; default 7,8,9,10); --json: one B (default 8)")
    p.add_argument("--ues", default=None,
                   help="K values (Table IV; default 4,5,6,7); --json: one K (default 4)")
    p.add_argument("--timing-repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=run_eval)


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(float(v)) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInput(f"--{what} must be comma-separated numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise InvalidInput(f"--{what} needs positive values, got {text!r}")
    return values


def _policies(args: argparse.Namespace) -> dict[str, Policy]:
    pols = {"egat": make_policy("egat", checkpoint=args.checkpoint)}
    if args.ablation:
        pols["engnn"] = make_policy("egat", checkpoint=args.ablation)
    if args.dnn:
        pols["dnn"] = make_policy("egat", checkpoint=args.dnn)
    pols["pc-wmmse"] = make_policy("pc-wmmse")
    pols["fc-zf"] = make_policy("fc-zf")
    return pols


def _fits(pol: Policy, cfg: CellFreeConfig) -> bool:
    """False for a DNN built for another B or K."""
    model_cfg = pol.model.cfg if isinstance(pol, EgatPolicy) else None
    if isinstance(model_cfg, DnnConfig):
        return (model_cfg.num_aps, model_cfg.num_ues) == (cfg.num_aps, cfg.num_ues)
    return True


def _sweep(pols: dict[str, Policy], aosca: Policy | None, cfgs: dict[int, CellFreeConfig],
           args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``{setting: {policy: {wsr, feasible_raw, aps_per_ue, seconds}}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, cfg in cfgs.items():
        state = instances(cfg, args.n, args.seed + 7 * key + cfg.num_aps + 100 * cfg.num_ues)
        row = {}
        named = dict(pols)
        for name, pol in named.items():
            if not _fits(pol, cfg):
                continue  # the DNN only runs at the size it was trained for
            s = score(pol, state)
            row[name] = {"wsr": s.wsr.tolist(), "feasible_raw": float(s.feasible_raw.mean()),
                         "aps_per_ue": s.aps_per_ue, "seconds": s.seconds}
        if aosca is not None:
            m = min(args.n_aosca, args.n)  # the first m of the same instances
            sub = dataclasses.replace(state, h=state.h[:m])
            s = score(aosca, sub)
            row["ao-sca"] = {"wsr": s.wsr.tolist(), "feasible_raw": float(s.feasible_raw.mean()),
                             "aps_per_ue": s.aps_per_ue, "seconds": s.seconds}
        out[str(key)] = row
    return out


def run_eval(args: argparse.Namespace) -> int:
    """``--json``: one setting, one JSON line; else every sweep and the report in ``--out``."""
    if args.json:
        torch.set_num_threads(args.threads)
        print(json.dumps(run_check(args)))
        return 0
    if not args.out:
        raise InvalidInput("rrm egat eval needs --out DIR (figure suite) or --json")
    return _run_suite(args)


def _run_suite(args: argparse.Namespace) -> int:
    """Run every sweep and write the report."""
    require("matplotlib")  # before minutes of evaluation, not after
    caps = _ints(args.capacities, "capacities")
    aps, ues = _ints(args.aps or "7,8,9,10", "aps"), _ints(args.ues or "4,5,6,7", "ues")
    args.n_aosca = 20 if args.n_aosca is None else args.n_aosca
    if args.n < 1 or args.n_aosca < 0 or args.timing_repeats < 1:
        raise InvalidInput("--n and --timing-repeats must be >= 1, --n-aosca >= 0")
    torch.set_num_threads(args.threads)
    pols = _policies(args)
    aosca = make_policy("ao-sca", max_iter=args.aosca_iter) if args.n_aosca else None
    t0 = time.perf_counter()
    base = CellFreeConfig()
    res: dict[str, Any] = {
        "capacity": _sweep(pols, aosca, {c: CellFreeConfig(fronthaul_mbps=float(c))
                                         for c in caps}, args),
        "aps": _sweep(pols, None, {b: CellFreeConfig(num_aps=b) for b in aps}, args),
        "ues": _sweep(pols, None, {k: CellFreeConfig(num_ues=k) for k in ues}, args),
    }
    timing: dict[str, dict[str, float]] = {}
    for k in ues:
        state = instances(CellFreeConfig(num_ues=k), args.timing_repeats, args.seed + k)
        named = {**{n: p for n, p in pols.items() if n != "dnn"},
                 **({"ao-sca": aosca} if aosca is not None else {})}
        timing[str(k)] = {name: single_instance_seconds(p, state, args.timing_repeats)
                          for name, p in named.items()}
    res["timing"] = timing
    res["meta"] = {"n": args.n, "n_aosca": min(args.n_aosca, args.n), "seed": args.seed,
                   "aosca_iter": args.aosca_iter, "base": base.__dict__,
                   "checkpoint": args.checkpoint, "ablation": args.ablation, "dnn": args.dnn,
                   "wall_s": round(time.perf_counter() - t0, 1),
                   "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
                   "command": "rrm " + " ".join(getattr(args, "argv", []) or ["egat", "eval"]),
                   "training": {n: {k: p.metadata.get(k) for k in
                                    ("command", "wall_time_s", "best_step", "machine")}
                                for n, p in pols.items()
                                if n in LEARNED + ("dnn",) and isinstance(p, EgatPolicy)}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cellfree.json").write_text(json.dumps(res) + "\n")
    from rrm.models.cellfree.plots import write_markdown, write_png

    write_png(res, out / "cellfree.png")
    write_markdown(res, out / "cellfree.md", "cellfree.png")
    print(f"wrote {out / 'cellfree.md'} in {res['meta']['wall_s']:.0f} s")
    return 0

