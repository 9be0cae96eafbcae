"""Evaluate diffusion checkpoints on an N = 400 expert data set's test split (issue #15, Figs. 2-4).

For each f_min level of the data set, every checkpoint's U-GNN samples, the
expert's stored samples, AP (their mean) and FP (full power) are time-shared
over the same fading on the test networks (eq. 15); optionally the same at
other sizes N on fresh networks (Fig. 4: U-GNN vs FP; the expert would need a
fresh run) and the checkable run at small N (``--check-pairs``, the expert
runs there). Writes ``results/diffusion-eval/<stem>.{md,json}``.

    OMP_NUM_THREADS=1 python bench/bench_diffusion_n400.py --data /work/gpu/data \\
        --checkpoint n400=/work/gpu/train/checkpoint --checkpoint shipped=
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import RESULTS, machine_line, save_results

from rrm.models.diffusion.check import (
    CheckConfig,
    TestNetworks,
    check_policies,
    draw_networks,
    expert_for,
    score_policies,
)
from rrm.models.diffusion.data import load_expert_data
from rrm.models.diffusion.model import GraphDiffusion, load_diffusion
from rrm.models.diffusion.schedule import DdimConfig


def load_models(specs: list[str], steps: int) -> dict[str, GraphDiffusion]:
    """``name=dir`` (empty dir: the shipped checkpoint) -> models with ``steps`` DDIM steps."""
    models = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        model, _ = load_diffusion(path or None)
        models[name] = model.with_ddim(DdimConfig(steps, 0.2))
    return models


def per_fmin(models: dict[str, GraphDiffusion], data: str, levels: list[float], samples: int,
             slots: int, seed: int) -> list[dict[str, Any]]:
    """Rows ``{f_min, policy, p1, p5, mean, feasibility, sample_s}`` on the test split."""
    test = load_expert_data(data, "test")
    rows = []
    for f in levels:
        keep = np.isclose(test.f_min, f)
        nets = TestNetworks(test.large_scale[keep], test.density[keep], test.noise_w, test.pmax_w)
        shares = {"expert": test.samples[keep],
                  "ap": test.samples[keep].mean(axis=1, keepdims=True),
                  "fp": np.ones((int(keep.sum()), 1, test.samples.shape[-1]))}
        wall = {}
        for name, model in models.items():
            t = time.perf_counter()
            shares[name] = model.sample(nets.large_scale, nets.noise_w, nets.pmax_w,
                                        np.full(int(keep.sum()), f), samples, seed)
            wall[name] = round(time.perf_counter() - t, 1)
        res = score_policies(nets, shares, f, slots, seed)
        rows += [{"f_min": f, "policy": k, "networks": int(keep.sum()), **m,
                  "sample_s": wall.get(k)} for k, m in res.items()]
        print(json.dumps(rows[-len(res):]), flush=True)
    return rows


def per_size(models: dict[str, GraphDiffusion], sizes: list[int], networks: int, f_min: float,
             samples: int, slots: int, seed: int) -> list[dict[str, Any]]:
    """Fig. 4: U-GNN(s) and FP on ``networks`` fresh networks of each size N."""
    rows = []
    for n in sizes:
        nets = draw_networks(n, networks, seed)
        shares = {"fp": np.ones((networks, 1, n))}
        for name, model in models.items():
            shares[name] = model.sample(nets.large_scale, nets.noise_w, nets.pmax_w,
                                        np.full(networks, f_min), samples, seed)
        res = score_policies(nets, shares, f_min, slots, seed)
        rows += [{"N": n, "policy": k, "networks": networks, **m} for k, m in res.items()]
        print(json.dumps(rows[-len(res):]), flush=True)
    return rows


def checkable(models: dict[str, GraphDiffusion], pairs: int, networks: int, f_min: float,
              samples: int, slots: int, seed: int) -> list[dict[str, Any]]:
    """The checkable run (fresh networks, expert run here) at small N, per checkpoint."""
    rows = []
    for name, model in models.items():
        cfg = CheckConfig(pairs, networks, f_min, seed, slots, samples, expert_for(3000))
        res = check_policies(model, cfg)
        rows += [{"N": pairs, "policy": name if k == "ugnn" else k, **m}
                 for k, m in res.items() if k == "ugnn" or name == next(iter(models))]
        print(json.dumps(rows[-1]), flush=True)
    return rows


def figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 3 style: p5, mean and feasibility vs f_min, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for policy in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == policy]
        for ax, key in zip(axes, ("p5", "mean", "feasibility"), strict=True):
            ax.plot([r["f_min"] for r in mine], [r[key] for r in mine], "o-", label=policy)
            ax.set_xlabel("f_min (bit/s/Hz)")
            ax.set_title(key)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table(rows: list[dict[str, Any]], key: str) -> list[str]:
    """Markdown table of ``rows`` keyed by ``key`` then policy."""
    out = [f"| {key} | policy | p1 | p5 | mean | feasibility |", "|---|---|---|---|---|---|"]
    out += [f"| {r[key]} | {r['policy']} | {r['p1']:.3f} | {r['p5']:.3f} | {r['mean']:.3f} | "
            f"{r['feasibility']:.1%} |" for r in rows]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="N = 400 data directory (compact parts ok)")
    p.add_argument("--checkpoint", action="append", required=True,
                   help="name=DIR (empty DIR: shipped); repeat")
    p.add_argument("--levels", default="0.4,0.5,0.6,0.7,0.8")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--ddim-steps", type=int, default=20)
    p.add_argument("--slots", type=int, default=500)
    p.add_argument("--sizes", default="", help="fresh-network sizes for Fig. 4 (U-GNN vs FP)")
    p.add_argument("--size-networks", type=int, default=4)
    p.add_argument("--check-pairs", type=int, default=0, help="checkable run at this N (0: skip)")
    p.add_argument("--check-networks", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stem", default="n400-gpu-eval")
    a = p.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    models = load_models(a.checkpoint, a.ddim_steps)
    wall = {}
    t = time.perf_counter()
    fmin_rows = per_fmin(models, a.data, [float(f) for f in a.levels.split(",") if f],
                         a.samples, a.slots, a.seed)
    wall["fmin_s"] = time.perf_counter() - t
    fmin_rows.sort(key=lambda r: r["f_min"])  # --levels may put the reference f_min first
    t = time.perf_counter()
    size_rows = per_size(models, [int(s) for s in a.sizes.split(",") if s], a.size_networks,
                         0.6, a.samples, a.slots, a.seed)
    wall["sizes_s"] = time.perf_counter() - t
    t = time.perf_counter()
    check_rows = (checkable(models, a.check_pairs, a.check_networks, 0.6, a.samples, a.slots,
                            a.seed) if a.check_pairs else [])
    wall["check_s"] = time.perf_counter() - t
    lines = ["# Diffusion checkpoints on the N = 400 test split", "", machine_line(),
             "Shared 2-core CPU, torch on 1 thread.", "",
             "Command: `OMP_NUM_THREADS=1 python bench/bench_diffusion_n400.py "
             + " ".join(f"--{k.replace('_', '-')} {x}" for k, v in vars(a).items()
                        for x in (v if isinstance(v, list) else [v])) + "`", "",
             f"U-GNN: {a.samples} samples per network, {a.ddim_steps} DDIM steps (eta 0.2); "
             f"{a.slots} slots, same fading for every policy.", "",
             "## Per f_min (test split)", ""] + table(fmin_rows, "f_min")
    if size_rows:
        lines += ["", f"## Fresh networks of size N (f_min 0.6, {a.size_networks} per N)", ""]
        lines += table(size_rows, "N")
    if check_rows:
        lines += ["", f"## Checkable run at N = {a.check_pairs} ({a.check_networks} fresh "
                  "networks, expert 3,000 iterations)", ""] + table(check_rows, "N")
    lines += ["", "Wall times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items())
              + f"; load average (1 min) {load_start:.1f} at start, {os.getloadavg()[0]:.1f} "
              "at end."]
    figure(fmin_rows, RESULTS / "diffusion-eval" / f"{a.stem}-fmin.png")
    lines += ["", f"![]({a.stem}-fmin.png)"]
    print(save_results(f"diffusion-eval/{a.stem}", lines,
                       [{"args": vars(a), "wall_s": wall}, *fmin_rows, *size_rows, *check_rows]))


if __name__ == "__main__":
    main()
