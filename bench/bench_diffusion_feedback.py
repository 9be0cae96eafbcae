"""Run-time rate feedback on the U-GNN's f_min input (extension, not the paper's method; #15).

On a few networks of an N = 400 expert data set's test split, per f_min
level: the expert's stored samples, full power, and for every checkpoint
every variant, each time-shared over ``--slots`` slots (eq. 15):

* ``NAME=S,K``: the plain U-GNN, S samples per network, K DDIM steps (eta 0.2);
* ``NAME=S,K,R,STEP[,HIGH[,LOW]]``: the feedback extension
  (:mod:`rrm.models.diffusion.feedback`): R rounds of S samples, lambda step
  STEP, input clipped to [LOW, HIGH] (default [0.4, 0.8], the trained range);
  ``R = 1`` with ``LOW = HIGH = c`` is the plain U-GNN conditioned on a
  constant ``c`` instead of the true f_min.

Writes ``results/diffusion-eval/<stem>.{md,json}``.

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_diffusion_feedback.py \\
        --data results/diffusion-eval/gpu-n400/data --checkpoint shipped= \\
        --variant plain=16,20 --variant fb4=8,20,4,1.0
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from machine import machine_line, save_results

from rrm.models.diffusion.check import KEYS, TestNetworks
from rrm.models.diffusion.data import load_expert_data
from rrm.models.diffusion.evaluate import cumulative_rates, metrics
from rrm.models.diffusion.feedback import FeedbackConfig, feedback_rates
from rrm.models.diffusion.model import GraphDiffusion, load_diffusion
from rrm.models.diffusion.schedule import DdimConfig


@dataclass(frozen=True)
class Variant:
    """One sampling setting: plain (``rounds`` 1) or with the feedback."""

    name: str
    samples: int
    ddim_steps: int
    feedback: FeedbackConfig

    @classmethod
    def parse(cls, spec: str) -> Variant:
        name, _, rest = spec.partition("=")
        v = rest.split(",")
        fb = FeedbackConfig(int(v[2]), float(v[3]), float(v[5]) if len(v) > 5 else 0.4,
                            float(v[4]) if len(v) > 4 else 0.8) \
            if len(v) > 2 else FeedbackConfig(rounds=1, step=0.0)
        return cls(name, int(v[0]), int(v[1]), fb)


def test_networks(data: str, f_min: float, per_density: int) -> tuple[TestNetworks, np.ndarray]:
    """The first ``per_density`` test networks per density at ``f_min``, their expert samples."""
    test = load_expert_data(data, "test")
    rows = [i for d in np.unique(test.density)
            for i in np.flatnonzero(np.isclose(test.f_min, f_min) & (test.density == d))
            [:per_density]]
    nets = TestNetworks(test.large_scale[rows], test.density[rows], test.noise_w, test.pmax_w)
    return nets, test.samples[rows]


def summary(rates: np.ndarray, f_min: float) -> dict[str, float]:
    m = metrics(rates, np.full(len(rates), f_min)).as_dict()
    return {k: m[k] for k in KEYS}


def run_level(models: dict[str, GraphDiffusion], variants: list[Variant], data: str,
              f_min: float, per_density: int, slots: int, seed: int) -> list[dict[str, Any]]:
    """Rows ``{f_min, checkpoint, variant, p1, p5, mean, feasibility, sample_s}``."""
    nets, expert = test_networks(data, f_min, per_density)
    base = {"f_min": f_min, "networks": len(nets.large_scale)}
    rows = []
    for name, shares in (("expert", expert), ("fp", np.ones((len(expert), 1, expert.shape[-1])))):
        rates = cumulative_rates(nets.large_scale, shares, nets.noise_w, nets.pmax_w, slots,
                                 np.random.default_rng([seed, 1]))[-1]
        rows.append({**base, "checkpoint": "-", "variant": name, **summary(rates, f_min)})
    for v in variants:  # every checkpoint's row of a variant before the next variant
        for ck, model in models.items():
            t = time.perf_counter()
            run = feedback_rates(model.with_ddim(DdimConfig(v.ddim_steps, 0.2)),
                                 nets.large_scale, nets.noise_w, nets.pmax_w,
                                 np.full(len(expert), f_min), v.samples, slots, v.feedback, seed)
            lam = run.steps[-1].dual if run.steps else np.zeros(1)
            rows.append({**base, "checkpoint": ck, "variant": v.name, **summary(run.rates, f_min),
                         "samples": v.samples, "ddim_steps": v.ddim_steps,
                         "rounds": v.feedback.rounds, "step": v.feedback.step,
                         "low": v.feedback.low, "high": v.feedback.high,
                         "lambda_max": round(float(lam.max()), 3),
                         "below_by_round": [round(s.below, 4) for s in run.steps],
                         "wall_s": round(time.perf_counter() - t, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _control(r: dict[str, Any]) -> str:
    """The feedback column: step / input range, the constant input, or '-' (plain)."""
    if r["rounds"] > 1:
        return f"{r['step']} / [{r.get('low', 0.4)}, {r['high']}]"
    return f"input {r['high']}" if r.get("low") == r["high"] else "-"


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| f_min | checkpoint | variant | samples x rounds | DDIM | step / input range | p1 | "
           "p5 | mean | feasibility | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        setting = (f"{r['samples']} x {r['rounds']} | {r['ddim_steps']} | " + _control(r)
                   if "samples" in r else "- | - | -")
        out.append(f"| {r['f_min']} | {r['checkpoint']} | {r['variant']} | {setting} | "
                   f"{r['p1']:.3f} | {r['p5']:.3f} | {r['mean']:.3f} | {r['feasibility']:.1%} | "
                   f"{r.get('wall_s', '-')} |")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="N = 400 data directory")
    p.add_argument("--checkpoint", action="append", required=True,
                   help="name=DIR (empty DIR: shipped diffusion-n400); repeat")
    p.add_argument("--variant", action="append", required=True,
                   help="NAME=S,K (plain) or NAME=S,K,R,STEP[,HIGH[,LOW]] (feedback); repeat")
    p.add_argument("--levels", default="0.6")
    p.add_argument("--per-density", type=int, default=1, help="test networks per density")
    p.add_argument("--slots", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stem", default="n400-feedback")
    a = p.parse_args()
    torch.set_num_threads(1)
    load_start, t0 = os.getloadavg()[0], time.perf_counter()
    models = {name: load_diffusion(path or None, pairs=None if path else 400)[0]
              for name, _, path in (s.partition("=") for s in a.checkpoint)}
    variants = [Variant.parse(s) for s in a.variant]
    rows = [r for f in a.levels.split(",") if f
            for r in run_level(models, variants, a.data, float(f), a.per_density, a.slots,
                               a.seed)]
    wall = time.perf_counter() - t0
    lines = ["# U-GNN with run-time rate feedback (extension, not the paper's method)", "",
             machine_line(), "Shared 2-core CPU, torch on 1 thread.", "",
             "Command: `OMP_NUM_THREADS=1 python bench/bench_diffusion_feedback.py "
             + " ".join(f"--{k.replace('_', '-')} {x}" for k, v in vars(a).items()
                        for x in (v if isinstance(v, list) else [v])) + "`", "",
             f"{a.per_density} test network(s) per density, {a.slots} slots, same fading "
             "stream for every policy; feedback rounds split the slots; DDIM eta 0.2.", ""]
    lines += table(rows)
    lines += ["", f"Wall time {wall:.0f} s; load average (1 min) {load_start:.1f} at start, "
              f"{os.getloadavg()[0]:.1f} at end."]
    print(save_results(f"diffusion-eval/{a.stem}", lines, [{"args": vars(a), "wall_s": wall},
                                                            *rows]))


if __name__ == "__main__":
    main()
