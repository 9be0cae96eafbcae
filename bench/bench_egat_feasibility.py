"""Why EGAT's answers are infeasible, and what the fronthaul-aware rate cap does about it.

For every setting of Tables II-IV (C = 40-90 Mbit/s at B=8, K=4; B = 7-10 at
K=4, C=60; K = 4-7 at B=8, C=60), ``--n`` fresh instances: the network's own
answer (``egat`` policy, no scaling) is checked per constraint: per-AP power
(3c) and fronthaul (3b), the worst load over capacity of the infeasible
instances, the overloaded APs per infeasible instance and the share of those
that serve a single UE. Then the answer after the rate cap
(:mod:`rrm.models.cellfree.rate_cap`) and after the heuristic scaling of
sec. V-A: feasibility and mean WSR (bit/s/Hz; after the cap, the heuristic
only touches instances the cap left overloaded).
Run: ``python bench/bench_egat_feasibility.py [--checkpoint DIR] [--n 200]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.cellfree_physics import ap_power_w  # noqa: E402
from rrm.models.cellfree.batch import CellFreeBatch, weighted_sum_rate  # noqa: E402
from rrm.models.cellfree.egat_policy import EgatPolicy  # noqa: E402
from rrm.models.cellfree.evaluate import OBJECTIVE, instances  # noqa: E402
from rrm.models.cellfree.fronthaul import scale_to_fronthaul  # noqa: E402
from rrm.models.cellfree.rate_cap import ap_load_ratio, cap_rates  # noqa: E402
from rrm.models.cellfree.store import DEFAULT_CHECKPOINT  # noqa: E402
from rrm.sim.scenarios.cellfree import CellFreeConfig  # noqa: E402

SETTINGS = ([("C", c, CellFreeConfig(fronthaul_mbps=float(c))) for c in (40, 50, 60, 70, 80, 90)]
            + [("B", b, CellFreeConfig(num_aps=b)) for b in (7, 8, 9, 10)]
            + [("K", k, CellFreeConfig(num_ues=k)) for k in (4, 5, 6, 7)])


def study(policy: EgatPolicy, cfg: CellFreeConfig, n: int, seed: int) -> dict[str, Any]:
    """One setting's row."""
    state = instances(cfg, n, seed)
    batch = CellFreeBatch.of(state)
    alloc = policy.decide(state, OBJECTIVE)
    v, x = np.asarray(alloc.v), np.asarray(alloc.x)
    power_ok = np.all(ap_power_w(v) <= batch.pmax_w * (1 + 1e-6), axis=-1)
    rho, _ = ap_load_ratio(batch, v, x)
    over = rho > 1 + 1e-6
    bad = over.any(-1)
    single = (x.sum(-1) == 1)[over]
    t0 = time.perf_counter()
    v_cap, ok_cap = cap_rates(batch, v, x)
    cap_ms = 1e3 * (time.perf_counter() - t0) / n
    v_h, x_h, _ = scale_to_fronthaul(batch, v.copy(), x)
    v_ch, x_ch, _ = scale_to_fronthaul(batch, v_cap.copy(), x)
    return {"n": n, "power_ok": float(power_ok.mean()), "fronthaul_ok": float(1 - bad.mean()),
            "worst_ratio_mean": float(rho.max(-1)[bad].mean()) if bad.any() else 1.0,
            "worst_ratio_max": float(rho.max()), "aps_over": float(over.sum(-1)[bad].mean())
            if bad.any() else 0.0, "single_ue_share": float(single.mean()) if single.size else 0.0,
            "cap_ok": float(ok_cap.mean()), "cap_ms": cap_ms,
            "wsr_heuristic": float(weighted_sum_rate(batch, v_h, x_h).mean()),
            "wsr_cap": float(weighted_sum_rate(batch, v_ch, x_ch).mean())}


def main() -> None:
    """Study every setting, print and save the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--stem", default="egat-eval/feasibility")
    args = ap.parse_args()
    torch.set_num_threads(1)
    policy = EgatPolicy(args.checkpoint, rate_cap=False)
    lines = ["# Why EGAT answers are infeasible (Tables II-IV settings)", "",
             f"Command: `python bench/bench_egat_feasibility.py --checkpoint {args.checkpoint} "
             f"--n {args.n} --seed {args.seed}`  ", machine_line(), "",
             "power ok / fronthaul ok: share of the network's own answers within per-AP power "
             "(3c) / fronthaul (3b). worst load/cap: max over APs of load over capacity, mean "
             "over the infeasible instances (and the max over all). APs over: overloaded APs per "
             "infeasible instance; 1-UE: share of overloaded APs serving a single UE. cap ok: "
             "fronthaul-feasible after the rate cap (no heuristic). WSR: mean after the heuristic "
             "scaling of the raw answer vs after the cap (+ heuristic where the cap fell short).",
             "", "| setting | power ok | fronthaul ok | worst load/cap (mean, max) | APs over | "
             "1-UE | cap ok | cap ms/inst | WSR heuristic | WSR cap |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for axis, value, cfg in SETTINGS:
        r = {"axis": axis, "value": value, **study(policy, cfg, args.n, args.seed + value)}
        rows.append(r)
        lines.append(f"| {axis}={value} | {r['power_ok']:.3f} | {r['fronthaul_ok']:.3f} | "
                     f"{r['worst_ratio_mean']:.3f}, {r['worst_ratio_max']:.3f} | "
                     f"{r['aps_over']:.2f} | {r['single_ue_share']:.2f} | {r['cap_ok']:.3f} | "
                     f"{r['cap_ms']:.2f} | {r['wsr_heuristic']:.3f} | {r['wsr_cap']:.3f} |")
        print(lines[-1], flush=True)
    (Path(__file__).resolve().parent / "results" / "egat-eval").mkdir(parents=True, exist_ok=True)
    save_results(args.stem, lines, rows)


if __name__ == "__main__":
    main()
