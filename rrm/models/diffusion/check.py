"""The checkable evaluation (issue #15 item 7): fresh test networks from a seed, four policies.

``rrm diffusion eval --pairs N --networks M --f-min F --seed S --json`` draws
``M`` fresh networks of ``N`` pairs, spread round-robin over the paper's four
densities (network ``i`` at ``DENSITIES_PER_KM2[i % 4]``, side
``R = sqrt(N / density)``), runs the primal-dual expert on them, samples the
U-GNN, and time-shares every policy over the same fading (eq. 15):

* ``ugnn``: the diffusion model's samples (``samples`` per network);
* ``expert``: the expert's late iterates (its stochastic policy, eq. 13);
* ``ap``: the mean of the expert's samples (one deterministic allocation);
* ``fp``: full power.

Rates in bit/s/Hz; feasibility is the share of users whose ergodic rate after
``slots`` slots is at least f_min.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.models.diffusion.data import ergodic_config
from rrm.models.diffusion.evaluate import cumulative_rates, metrics
from rrm.models.diffusion.expert import ExpertConfig, run_expert
from rrm.models.diffusion.model import GraphDiffusion
from rrm.sim.scenarios.ergodic import DENSITIES_PER_KM2, generate_ergodic

FloatArray = NDArray[np.float64]
POLICIES = ("ugnn", "expert", "ap", "fp")
KEYS = ("p1", "p5", "mean", "feasibility")


@dataclass(frozen=True)
class CheckConfig:
    """One checkable run: ``networks`` fresh networks of ``pairs`` pairs at ``f_min``."""

    pairs: int
    networks: int
    f_min: float
    seed: int = 0
    slots: int = 500  # time-sharing slots (paper 500)
    samples: int = 100  # U-GNN samples per network (paper 100)
    expert: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        if self.pairs < 2 or self.networks < 1:
            raise InvalidInput(f"--pairs must be >= 2 and --networks >= 1, "
                               f"got {self.pairs} and {self.networks}")
        if not 0 < self.f_min < 10:
            raise InvalidInput(f"--f-min must be in (0, 10) bit/s/Hz, got {self.f_min}")
        if self.slots < 1 or self.samples < 1:
            raise InvalidInput(f"--slots and --samples must be >= 1, "
                               f"got {self.slots} and {self.samples}")


@dataclass(frozen=True)
class TestNetworks:
    """``large_scale [M, N, N]`` and ``density [M]`` (pairs/km^2); one noise / Pmax for all."""

    large_scale: FloatArray
    density: FloatArray
    noise_w: float
    pmax_w: float


def draw_networks(pairs: int, networks: int, seed: int) -> TestNetworks:
    """``networks`` fresh networks, network ``i`` at density ``i % 4`` (deterministic in seed)."""
    large: list[FloatArray] = []
    dens: list[float] = []
    noise = pmax = 0.0
    for d, density in enumerate(DENSITIES_PER_KM2):
        count = len(range(d, networks, len(DENSITIES_PER_KM2)))
        if count == 0:
            continue
        cfg = ergodic_config(pairs, density)
        rng = np.random.default_rng([seed, pairs, d, 15])  # 15: never the training streams
        large.append(generate_ergodic(cfg, count, rng).large_scale)
        dens += [density] * count
        noise, pmax = cfg.noise_w, cfg.pmax_w
    return TestNetworks(np.concatenate(large), np.asarray(dens), noise, pmax)


def _summary(final: FloatArray, f_min: FloatArray) -> dict[str, float]:
    m = metrics(final, f_min).as_dict()
    return {k: m[k] for k in KEYS}


def check_policies(model: GraphDiffusion, cfg: CheckConfig) -> dict[str, dict[str, float]]:
    """``{policy: {p1, p5, mean, feasibility}}`` for :data:`POLICIES` on fresh networks."""
    nets = draw_networks(cfg.pairs, cfg.networks, cfg.seed)
    m = len(nets.large_scale)
    fmin = np.full(m, cfg.f_min)
    expert = run_expert(nets.large_scale, nets.noise_w, nets.pmax_w, fmin, cfg.expert,
                        seed=cfg.seed).samples  # (M, S, N)
    ugnn = model.sample(nets.large_scale, nets.noise_w, nets.pmax_w, fmin, cfg.samples,
                        cfg.seed)  # (M, S', N)
    return score_policies(nets, {"ugnn": ugnn, **baselines(expert)}, cfg.f_min, cfg.slots,
                          cfg.seed)


def baselines(expert: FloatArray) -> dict[str, FloatArray]:
    """``expert`` samples ``[M, S, N]`` and the deterministic AP (their mean) and FP shares."""
    m, _, n = expert.shape
    return {"expert": expert, "ap": expert.mean(axis=1, keepdims=True), "fp": np.ones((m, 1, n))}


def score_policies(nets: TestNetworks, shares: dict[str, FloatArray], f_min: float, slots: int,
                   seed: int) -> dict[str, dict[str, float]]:
    """Time-share each policy's ``shares [M, S, N]`` over the same fading; final metrics."""
    fmin = np.full(len(nets.large_scale), f_min)
    out = {}
    for name, s in shares.items():  # same seed: every policy sees the same fading
        cum = cumulative_rates(nets.large_scale, s, nets.noise_w, nets.pmax_w, slots,
                               np.random.default_rng([seed, 1]))
        out[name] = _summary(cum[-1], fmin)
    return out


def expert_for(iterations: int) -> ExpertConfig:
    """The expert with ``iterations`` primal steps: window a third (<= 1000), samples <= 200."""
    if iterations < 3:
        raise InvalidInput(f"--expert-iterations must be >= 3, got {iterations}")
    window = min(ExpertConfig.window, iterations // 3)
    return ExpertConfig(iterations=iterations, window=window,
                        samples=min(ExpertConfig.samples, window))
