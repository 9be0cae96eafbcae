"""The primal-dual expert's dual target margin (issue #15 item 3): feasibility / p5 / mean.

The expert's dual steers each user's estimated ergodic rate to ``f_min +
margin``; its late-iterate window then time-shares allocations whose final
rates scatter around the target, so a margin buys feasibility. On fresh
networks (round-robin over the 4 densities), same fading for every margin.
Writes ``results/diffusion-eval/expert-margin-N<pairs>.{md,json}``.

    OMP_NUM_THREADS=1 python bench/bench_expert_margin.py --pairs 20 --networks 16
"""

from __future__ import annotations

import argparse

from bench_expert_recipe import run_configs
from machine import machine_line, save_results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--networks", type=int, default=16)
    p.add_argument("--f-min", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--margins", default="0,0.1,0.2")
    a = p.parse_args()
    margins = [float(m) for m in a.margins.split(",")]
    rows = [{"margin": row["config"]["margin"], **row}
            for row in run_configs(a.pairs, a.networks, a.f_min, a.seed,
                                   [{"margin": m} for m in margins])]
    lines = ["# Primal-dual expert: dual target margin", "", machine_line(),
             "Shared 2-core CPU, torch on 1 thread.", "",
             f"Command: `OMP_NUM_THREADS=1 python bench/bench_expert_margin.py --pairs {a.pairs} "
             f"--networks {a.networks} --f-min {a.f_min} --seed {a.seed} --margins {a.margins}`",
             "", f"{a.networks} fresh networks of N = {a.pairs} ({a.networks * a.pairs} users), "
             f"f_min {a.f_min}, expert 3,000 iterations (window 1,000, 200 samples), 500 slots.",
             "", "| margin | expert p1 | p5 | mean | feasibility | AP feasibility | "
             "FP feasibility | expert s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['margin']:g} | {r['expert']['p1']:.3f} | {r['expert']['p5']:.3f} | "
              f"{r['expert']['mean']:.3f} | {r['expert']['feasibility']:.1%} | "
              f"{r['ap']['feasibility']:.1%} | {r['fp']['feasibility']:.1%} | {r['expert_s']} |"
              for r in rows]
    print(save_results(f"diffusion-eval/expert-margin-N{a.pairs}", lines, rows))


if __name__ == "__main__":
    main()
