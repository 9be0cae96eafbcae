"""Primal-dual expert for ergodic sum rate under per-user minimum rates (seed 004, sec. 2.2).

Problem per network ``H`` (sec. 3): maximise ``E[sum_j r_j(x, H_t)]`` subject
to ``E[r_j(x, H_t)] >= f_min`` for every user j, ``x in [0, Pmax]^N``, the
expectation over Rayleigh fading ``H_t = H * |h_t|^2`` (eqs. 14-15).

Projected dual descent, eqs. (9)-(10)::

    x_{k+1} ~ argmax_x L(x, lam_k),  L = mean_j [(1 + lam_j) r_j(x)] - lam^T f_min / N
    lam_{k+1} = [lam_k - eta (r(x_{k+1}) - f_min)]_+

The primal argmax is approximated by gradient ascent directly on the powers
(``x = Pmax sigmoid(theta)``, Adam on theta, one Monte-Carlo fading batch per
step); the dual step uses heavy-ball momentum and runs every ``dual_every``
primal steps on the average slack of those steps (authors' code: step 0.2,
momentum 0.5, every 2 primal steps). The late iterates, a window of
``window`` primal steps after burn-in, are the expert's samples of its
stochastic policy (eq. 13): ``samples`` of them evenly spaced (authors:
200 of 1000). Adam's second-moment decay ``primal_beta2`` matters: with torch's default
0.999 a user pushed to the lower logit bound keeps a large remembered
gradient scale for ~1000 steps and stays off while its multiplier grows
without bound; 0.9 lets it switch back on (issue #15: N = 20, margin 0.15,
feasibility 96.6 % -> 98.8 %). Where we differ from the authors: their primal variable is a
3-layer 64-wide 2-hop GNN policy per network; ours is the power vector
itself (no parametrisation gap, and every network of a batch is one tensor).

Vectorised over ``B`` instances (networks x f_min levels), fading samples
and links; the only Python loop is over iterations. Device-agnostic: pass
``device="cuda"`` to run the same tensor program on a GPU (the random
streams then come from that device's generator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from rrm.core.errors import ConfigError, InvalidInput
from rrm.core.physics_torch import rates

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ExpertConfig:
    """Primal-dual expert settings (authors' code unless noted; iterations scaled for CPU)."""

    iterations: int = 3000  # primal steps in all (burn-in + window); authors: thousands
    window: int = 1000  # late primal iterates kept (authors' code)
    samples: int = 200  # K = 200 samples per network (sec. 3.1)
    primal_lr: float = 0.3  # Adam on the power logits: switching in ~40 steps (ours)
    dual_step: float = 0.2  # eta_lambda (authors' code)
    dual_momentum: float = 0.5  # authors' code
    dual_every: int = 2  # primal steps per dual update (authors' code)
    fading_samples: int = 16  # Monte-Carlo fading draws per primal step (ours)
    init_spread: float = 2.0  # initial power logits uniform in +-spread: breaks symmetry (ours)
    logit_bound: float = 6.0  # theta projected to +-bound: no saturated, frozen sigmoid (ours)
    margin: float = 0.0  # bit/s/Hz added to f_min in the dual: slack for finite windows (ours)
    primal_beta2: float = 0.9  # Adam second moment; torch 0.999 leaves starved users off (ours)

    def __post_init__(self) -> None:
        if not 0 < self.samples <= self.window <= self.iterations:
            raise ConfigError("expert needs 0 < samples <= window <= iterations")
        if self.dual_every < 1 or self.fading_samples < 1 or self.logit_bound <= 0 \
                or self.margin < 0 or not 0 < self.primal_beta2 < 1:
            raise ConfigError("expert needs dual_every >= 1, fading_samples >= 1, "
                              "logit_bound > 0, margin >= 0, 0 < primal_beta2 < 1")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready config."""
        return asdict(self)


@dataclass(frozen=True)
class DualStep:
    """Dual state after one update: multipliers ``lam [B, N]`` and momentum ``velocity``."""

    lam: Tensor
    velocity: Tensor


class DualDescent:
    """Projected dual descent with heavy-ball momentum, eq. (10) (model-free).

    ``v <- m v + (r - f_min)``; ``lam <- [lam - eta v]_+``: multipliers rise
    while a constraint is violated and decay to exactly zero under slack.
    """

    def __init__(self, step_size: float = 0.2, momentum: float = 0.5) -> None:
        if step_size <= 0 or not 0 <= momentum < 1:
            raise ConfigError("dual descent needs step_size > 0 and 0 <= momentum < 1")
        self.step_size, self.momentum = step_size, momentum

    def step(self, state: DualStep, slack: Tensor) -> DualStep:
        """One update on the constraint slack ``r - f_min [B, N]`` (bit/s/Hz)."""
        velocity = self.momentum * state.velocity + slack
        lam = (state.lam - self.step_size * velocity).clamp_min(0.0)
        return DualStep(lam, velocity)


@dataclass(frozen=True)
class ExpertResult:
    """One run of the expert on ``B`` instances.

    Attributes:
        samples: ``[B, S, N]`` power shares ``p / Pmax`` of the late iterates.
        duals: ``[T_d, B, N]`` multipliers after each dual update.
        violated: ``[T, B]`` per-iteration fraction of users whose estimated
            rate is below f_min (paper Fig. 1, bottom left).
        worst_slack: ``[T, B]`` per-iteration minimum slack, bit/s/Hz.
    """

    samples: FloatArray
    duals: FloatArray
    violated: FloatArray
    worst_slack: FloatArray


def _fading_rates(large: Tensor, share: Tensor, pmax: float, noise: float, draws: int,
                  gen: torch.Generator) -> Tensor:
    """Rates ``[B, F, N]`` of power shares ``[B, N]`` under ``F`` Rayleigh draws of ``large``."""
    fading = torch.empty((large.shape[0], draws, *large.shape[1:]), device=large.device)
    fading.exponential_(generator=gen)  # |h|^2 ~ Exp(1)
    gains = large[:, None] * fading  # (B, F, N, N)
    return rates(gains, pmax * share[:, None, :], noise)


def _device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device; an unknown or absent one is a one-line InvalidInput."""
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InvalidInput(f"device {str(device)!r} is not usable here: {first}") from None
    return dev


def run_expert(large_scale: FloatArray, noise_w: float, pmax_w: float, f_min: ArrayLike,
               cfg: ExpertConfig = ExpertConfig(), seed: int = 0,
               progress: Callable[[int], None] | None = None,
               device: str | torch.device = "cpu") -> ExpertResult:
    """Primal-dual iterations on ``large_scale [B, N, N]`` with ``f_min`` (scalar, [B] or [B, N]).

    ``progress(i)`` is called every 100 iterations; ``device`` runs the tensors there.
    """
    g = np.asarray(large_scale, dtype=np.float64)
    if g.ndim != 3 or g.shape[1] != g.shape[2]:
        raise InvalidInput(f"large_scale must be [B, N, N], got {g.shape}")
    b, n = g.shape[0], g.shape[1]
    fmin = np.asarray(f_min, dtype=np.float64)
    fmin = np.broadcast_to(fmin[:, None] if fmin.ndim == 1 else fmin, (b, n))
    dev = _device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    scale = noise_w / pmax_w  # rates are invariant to scaling gains and noise together
    large = torch.as_tensor(g / scale, dtype=torch.float32, device=dev)  # units of noise / Pmax
    target = torch.tensor(np.array(fmin) + cfg.margin, dtype=torch.float32, device=dev)
    theta = ((torch.rand((b, n), generator=gen, device=dev) * 2 - 1)
             * cfg.init_spread).requires_grad_()
    opt = torch.optim.Adam([theta], lr=cfg.primal_lr, betas=(0.9, cfg.primal_beta2))
    dual = DualStep(torch.zeros(b, n, device=dev), torch.zeros(b, n, device=dev))
    descent = DualDescent(cfg.dual_step, cfg.dual_momentum)
    window, duals = [], []
    kept = set(np.linspace(0, cfg.window - 1, cfg.samples).round().astype(int).tolist())
    violated, worst = np.empty((cfg.iterations, b)), np.empty((cfg.iterations, b))
    slack_sum = torch.zeros(b, n, device=dev)
    for it in range(cfg.iterations):
        r = _fading_rates(large, torch.sigmoid(theta), 1.0, 1.0, cfg.fading_samples, gen)
        lagrangian = ((1.0 + dual.lam[:, None, :]) * r).mean()  # lam^T f_min is constant in x
        opt.zero_grad()
        (-lagrangian).backward()
        opt.step()
        with torch.no_grad():
            theta.clamp_(-cfg.logit_bound, cfg.logit_bound)
        slack = r.detach().mean(dim=1) - target  # (B, N)
        violated[it] = (slack < 0).double().mean(1).cpu().numpy()
        worst[it] = slack.min(1).values.cpu().numpy()
        slack_sum += slack
        if (it + 1) % cfg.dual_every == 0:
            dual = descent.step(dual, slack_sum / cfg.dual_every)
            slack_sum.zero_()
            duals.append(dual.lam.cpu().numpy().copy())
        if it - (cfg.iterations - cfg.window) in kept:  # only the picked late iterates
            window.append(torch.sigmoid(theta.detach()).cpu().numpy().copy())
        if progress is not None and (it + 1) % 100 == 0:
            progress(it + 1)
    samples = np.stack(window, axis=1)  # (B, S, N)
    return ExpertResult(samples.astype(np.float64), np.stack(duals), violated, worst)
