"""The checkable evaluation at the paper's N (issue #15): expert, U-GNN, AP, FP on fresh networks.

Stage by stage, timed: draw ``--networks`` fresh networks of ``--pairs`` pairs
(round-robin over the 4 densities), the primal-dual expert (its feasibility /
p5 / mean say whether it is worth imitating), the shipped U-GNN's samples,
and 500-slot time sharing. Same numbers as ``rrm diffusion eval --pairs ...``
with the same settings; writes ``results/diffusion-eval/paper-scale-N<pairs>.{md,json}``.

    OMP_NUM_THREADS=1 python bench/bench_diffusion_paper.py --pairs 400 --networks 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import torch
from machine import machine_line, save_results

from rrm.models.diffusion.check import baselines, draw_networks, expert_for, score_policies
from rrm.models.diffusion.expert import run_expert
from rrm.models.diffusion.model import load_diffusion
from rrm.models.diffusion.schedule import DdimConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=400)
    p.add_argument("--networks", type=int, default=2)
    p.add_argument("--f-min", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--expert-iterations", type=int, default=900)
    p.add_argument("--fading", type=int, default=8, help="expert fading draws per step")
    p.add_argument("--samples", type=int, default=16, help="U-GNN samples per network")
    p.add_argument("--ddim-steps", type=int, default=20)
    p.add_argument("--slots", type=int, default=500)
    a = p.parse_args()
    torch.set_num_threads(1)
    wall: dict[str, float] = {}
    t = time.perf_counter()
    nets = draw_networks(a.pairs, a.networks, a.seed)
    wall["draw_s"] = time.perf_counter() - t
    fmin = np.full(a.networks, a.f_min)
    ecfg = dataclasses.replace(expert_for(a.expert_iterations), fading_samples=a.fading)
    t = time.perf_counter()
    expert = run_expert(nets.large_scale, nets.noise_w, nets.pmax_w, fmin, ecfg, seed=a.seed,
                        progress=lambda i: print(f"expert {i} it {time.perf_counter() - t:.0f} s",
                                                 file=sys.stderr, flush=True))
    wall["expert_s"] = time.perf_counter() - t
    model, _ = load_diffusion()
    model = model.with_ddim(DdimConfig(a.ddim_steps, 0.2))
    t = time.perf_counter()
    ugnn = model.sample(nets.large_scale, nets.noise_w, nets.pmax_w, fmin, a.samples, a.seed)
    wall["ugnn_s"] = time.perf_counter() - t
    t = time.perf_counter()
    res = score_policies(nets, {"ugnn": ugnn, **baselines(expert.samples)}, a.f_min, a.slots,
                         a.seed)
    wall["score_s"] = time.perf_counter() - t
    last_violated = float(expert.violated[-ecfg.window:].mean())
    row = {"args": vars(a), "expert": ecfg.as_dict(), "policies": res,
           "expert_window_violated_share": round(last_violated, 4),
           "wall_s": {k: round(v, 1) for k, v in wall.items()}}
    lines = ["# Diffusion policy at the paper's N: fresh test networks", "", machine_line(),
             "Shared 2-core CPU (other engineers' jobs running), torch on 1 thread.", "",
             f"Command: `OMP_NUM_THREADS=1 python bench/bench_diffusion_paper.py "
             f"{' '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in vars(a).items())}`",
             "", f"{a.networks} networks of N = {a.pairs} (densities round-robin), f_min = "
             f"{a.f_min}, {a.slots} slots; expert {ecfg.iterations} iterations, window "
             f"{ecfg.window}, {ecfg.samples} samples, {ecfg.fading_samples} fading draws per step; "
             f"shipped U-GNN (trained at N = 20), {a.samples} samples, {a.ddim_steps} DDIM steps.",
             "", "| policy | p1 | p5 | mean | feasibility |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {m['p1']:.3f} | {m['p5']:.3f} | {m['mean']:.3f} | "
              f"{m['feasibility']:.1%} |" for k, m in res.items()]
    lines += ["", f"Expert: share of (user, iteration) estimates below f_min over its window: "
              f"{last_violated:.1%}.", "",
              "Wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in wall.items()) + "."]
    print(save_results(f"diffusion-eval/paper-scale-N{a.pairs}", lines, [row]))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
