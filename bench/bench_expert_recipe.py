"""What makes the primal-dual expert converge (issue #15 item 3): settings vs feasibility.

Each ``--config`` is a JSON object of :class:`ExpertConfig` overrides; every
config runs on the same fresh networks (round-robin over the 4 densities)
and is scored by time sharing its samples over the same 500 fading slots.
Prints one line per config (expert feasibility / p5 / mean, AP feasibility,
the late estimated violated share, seconds).

    OMP_NUM_THREADS=1 python bench/bench_expert_recipe.py --pairs 20 --networks 16 \\
        '{"margin": 0.15}' '{"margin": 0.15, "primal_beta2": 0.9}'
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from typing import Any

import torch

from rrm.models.diffusion.check import baselines, draw_networks, score_policies
from rrm.models.diffusion.expert import ExpertConfig, run_expert


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--networks", type=int, default=16)
    p.add_argument("--f-min", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("config", nargs="+", help="JSON object of ExpertConfig overrides")
    a = p.parse_args()
    for row in run_configs(a.pairs, a.networks, a.f_min, a.seed,
                           [json.loads(spec) for spec in a.config]):
        e = row["expert"]
        print(json.dumps({"config": row["config"], "feasibility": e["feasibility"],
                          "p5": e["p5"], "mean": e["mean"],
                          "ap_feasibility": row["ap"]["feasibility"],
                          "violated_late": row["violated_late"], "seconds": row["expert_s"]}),
              flush=True)


def run_configs(pairs: int, networks: int, f_min: float, seed: int,
                configs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each ExpertConfig override on the same fresh networks and fading; one row per config
    (``config``, ``expert_s``, ``violated_late`` and the scores of expert, AP and FP)."""
    torch.set_num_threads(1)
    nets = draw_networks(pairs, networks, seed)
    for overrides in configs:
        t = time.perf_counter()
        r = run_expert(nets.large_scale, nets.noise_w, nets.pmax_w, f_min,
                       ExpertConfig(**overrides), seed=seed)
        res = score_policies(nets, baselines(r.samples), f_min, 500, seed)
        yield {"config": overrides, "expert_s": round(time.perf_counter() - t, 1),
               "violated_late": round(float(r.violated[-200:].mean()), 3), **res}

if __name__ == "__main__":
    main()
