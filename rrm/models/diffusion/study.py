"""The evaluation study of seed 004, sec. 3.2 (Figs. 2-4), on the test split.

* :func:`compare_policies`: U-GNN vs expert vs AP vs FP time-shared over
  ``slots`` at one f_min (Fig. 2), with final p1/p5/mean, feasibility, Jain.
* :func:`fmin_sweep`: the U-GNN on the test networks at f_min levels in
  [0.3, 0.8], training levels and unseen ones (Fig. 3).
* :func:`transfer`: the U-GNN on fresh networks of other sizes N at the
  same densities (Fig. 4), with FP as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.models.diffusion.data import ExpertSet, ergodic_config
from rrm.models.diffusion.evaluate import cumulative_rates, metrics, percentile_curves
from rrm.models.diffusion.model import GraphDiffusion
from rrm.sim.scenarios.ergodic import DENSITIES_PER_KM2, generate_ergodic

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Comparison:
    """Per policy: curves (``p1``/``p5``/``mean`` ``[T]``) and final metrics (a dict)."""

    curves: dict[str, dict[str, FloatArray]]
    final: dict[str, dict[str, float]]
    instances: int


def _at_fmin(test: ExpertSet, f_min: float) -> ExpertSet:
    keep = np.isclose(test.f_min, f_min)
    if not keep.any():
        raise InvalidInput(f"no test instance at f_min={f_min}; levels: "
                           f"{sorted(set(np.round(test.f_min, 3)))}")
    return ExpertSet(test.large_scale[keep], test.f_min[keep], test.samples[keep],
                     test.density[keep], test.noise_w, test.pmax_w)


def compare_policies(model: GraphDiffusion, test: ExpertSet, f_min: float, slots: int,
                     num_samples: int, seed: int) -> Comparison:
    """Fig. 2: time-shared U-GNN / expert, and the deterministic AP / FP baselines."""
    sub = _at_fmin(test, f_min)
    ugnn = model.sample(sub.large_scale, sub.noise_w, sub.pmax_w, sub.f_min, num_samples, seed)
    policies = {"U-GNN": ugnn, "expert": sub.samples,
                "AP": sub.samples.mean(axis=1, keepdims=True),
                "FP": np.ones((len(sub), 1, sub.samples.shape[-1]))}
    curves, final = {}, {}
    for name, shares in policies.items():
        cum = cumulative_rates(sub.large_scale, shares, sub.noise_w, sub.pmax_w, slots,
                               np.random.default_rng(seed))  # same fading for every policy
        curves[name] = percentile_curves(cum)
        final[name] = metrics(cum[-1], sub.f_min).as_dict()
    return Comparison(curves, final, len(sub))


def fmin_sweep(model: GraphDiffusion, test: ExpertSet, levels: FloatArray, slots: int,
               num_samples: int, seed: int) -> list[dict[str, float]]:
    """Fig. 3: U-GNN metrics on the distinct test networks at each f_min in ``levels``."""
    _, first = np.unique(test.large_scale.reshape(len(test), -1), axis=0, return_index=True)
    nets = test.large_scale[np.sort(first)]
    rows = []
    for f in levels:
        shares = model.sample(nets, test.noise_w, test.pmax_w, np.full(len(nets), f),
                              num_samples, seed)
        cum = cumulative_rates(nets, shares, test.noise_w, test.pmax_w, slots,
                               np.random.default_rng(seed))
        rows.append({"f_min": round(float(f), 3),
                     **metrics(cum[-1], np.full(len(nets), f)).as_dict()})
    return rows


def transfer(model: GraphDiffusion, sizes: list[int], networks_per_density: int, f_min: float,
             slots: int, num_samples: int, seed: int) -> list[dict[str, float]]:
    """Fig. 4: U-GNN (and FP) on fresh networks of each size N at the paper's densities."""
    rows = []
    for n in sizes:
        ugnn_r: list[FloatArray] = []
        fp_r: list[FloatArray] = []
        for d, density in enumerate(DENSITIES_PER_KM2):
            cfg = ergodic_config(n, density, f_min)
            rng = np.random.default_rng([seed, n, d])
            nets = generate_ergodic(cfg, networks_per_density, rng).large_scale
            shares = model.sample(nets, cfg.noise_w, cfg.pmax_w,
                                  np.full(len(nets), f_min), num_samples, seed)
            full = np.ones((len(nets), 1, n))
            for out, s in ((ugnn_r, shares), (fp_r, full)):
                out.append(cumulative_rates(nets, s, cfg.noise_w, cfg.pmax_w, slots,
                                            np.random.default_rng(seed))[-1])
        u = metrics(np.concatenate(ugnn_r), np.full(4 * networks_per_density, f_min))
        fp = metrics(np.concatenate(fp_r), np.full(4 * networks_per_density, f_min))
        rows.append({"N": n, **u.as_dict(), "fp_p5": round(fp.p5, 4),
                     "fp_feasibility": round(fp.feasibility, 4)})
    return rows
