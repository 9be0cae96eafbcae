"""Noise schedule and samplers of the graph-signal diffusion model (seed 004, sec. 2.1).

Model-free objects in the style of diffusers schedulers: they hold the
schedule, add noise (forward chain, eq. 3), and turn a denoiser's noise
prediction into the next reverse-chain sample (DDPM ancestral step, DDIM
step of eq. 5). The denoiser itself lives in :mod:`rrm.models.diffusion.ugnn`.

Notation (0-based step index ``k`` in ``[0, K)``, as in diffusers):

==============  ==========================================================
``beta[k]``     noise variance added at step k (linear in k)
``alpha[k]``    ``1 - beta[k]``
``alpha_bar``   ``prod_{s <= k} alpha[s]``; ``x_k = sqrt(ab) x_0 + sqrt(1-ab) eps``
``eps``         the noise the denoiser predicts, eq. (4)
==============  ==========================================================

All tensors are float32 on the caller's device; the schedule is computed in
float64 and cast once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from rrm.core.errors import ConfigError

Denoiser = Callable[[Tensor, Tensor], Tensor]  # (x_k [B, N], k [B]) -> eps [B, N]


@dataclass(frozen=True)
class ScheduleConfig:
    """Linear beta schedule (sec. 3.1: K = 500 steps; betas of Ho et al. 2020)."""

    num_steps: int = 500  # K, sec. 3.1
    beta_start: float = 1e-4  # DDPM default (authors' code)
    beta_end: float = 0.02  # DDPM default (authors' code)

    def __post_init__(self) -> None:
        if self.num_steps < 1 or not 0 < self.beta_start <= self.beta_end < 1:
            raise ConfigError("schedule needs num_steps >= 1 and 0 < beta_start <= beta_end < 1")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready config."""
        return asdict(self)


@dataclass(frozen=True)
class Posterior:
    """``q(x_{k-1} | x_k, x_0) = N(mean, variance I)``: ``mean [..., N]``, ``variance [...]``."""

    mean: Tensor
    variance: Tensor


@dataclass(frozen=True)
class StepOutput:
    """One reverse step: ``prev_sample`` (x_{k-1}) and ``pred_original`` (x_0 estimate)."""

    prev_sample: Tensor
    pred_original: Tensor


def _per_sample(values: Tensor, k: Tensor, like: Tensor) -> Tensor:
    """``values[k]`` shaped to broadcast against ``like [B, ...]``."""
    v = values.to(like.device)[k]
    return v.reshape(v.shape + (1,) * (like.dim() - v.dim()))


class NoiseSchedule:
    """Linear-beta DDPM schedule: forward noising, posterior, ancestral step."""

    def __init__(self, cfg: ScheduleConfig = ScheduleConfig()) -> None:
        self.cfg = cfg
        betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.num_steps, dtype=torch.float64)
        alpha_bar = torch.cumprod(1.0 - betas, dim=0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        self.betas = betas.float()
        self.alphas = (1.0 - betas).float()
        self.alpha_bar = alpha_bar.float()
        self.alpha_bar_prev = prev.float()
        # variance of q(x_{k-1} | x_k, x_0): beta_k (1 - ab_{k-1}) / (1 - ab_k) (Ho et al. eq. 7)
        self.posterior_variance = (betas * (1.0 - prev) / (1.0 - alpha_bar)).float()
        # posterior mean = c0 x_0 + ck x_k (Ho et al. eq. 7), in float64 so that c0[0] = 1
        self.posterior_c0 = (prev.sqrt() * betas / (1.0 - alpha_bar)).float()
        self.posterior_ck = ((1.0 - betas).sqrt() * (1.0 - prev) / (1.0 - alpha_bar)).float()

    @property
    def num_steps(self) -> int:
        """K."""
        return self.cfg.num_steps

    def add_noise(self, x0: Tensor, noise: Tensor, k: Tensor) -> Tensor:
        """Eq. (3): ``x_k = sqrt(ab_k) x_0 + sqrt(1 - ab_k) eps``; ``x0 [B, ..]``, ``k [B]``."""
        ab = _per_sample(self.alpha_bar, k, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def predict_original(self, xk: Tensor, eps: Tensor, k: Tensor) -> Tensor:
        """``x_0 = (x_k - sqrt(1 - ab_k) eps) / sqrt(ab_k)`` (the estimate in eq. 5)."""
        ab = _per_sample(self.alpha_bar, k, xk)
        return (xk - (1.0 - ab).sqrt() * eps) / ab.sqrt()

    def posterior(self, xk: Tensor, x0: Tensor, k: Tensor) -> Posterior:
        """``q(x_{k-1} | x_k, x_0)``: mean = c0 x_0 + ck x_k (Ho et al. 2020, eq. 7)."""
        c0 = _per_sample(self.posterior_c0, k, xk)
        ck = _per_sample(self.posterior_ck, k, xk)
        return Posterior(c0 * x0 + ck * xk, self.posterior_variance.to(xk.device)[k])

    def ddpm_step(self, eps: Tensor, k: Tensor, xk: Tensor, noise: Tensor,
                  clip: float | None = 1.0) -> StepOutput:
        """Ancestral step: x_{k-1} ~ q(. | x_k, x0_hat(eps)); no noise added at k = 0."""
        x0 = self.predict_original(xk, eps, k)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        post = self.posterior(xk, x0, k)
        std = post.variance.sqrt().reshape(-1, *([1] * (xk.dim() - 1)))
        return StepOutput(post.mean + std * noise, x0)


@dataclass(frozen=True)
class DdimConfig:
    """DDIM sampler (sec. 3.1: 100 steps; eta 0.2 in the authors' code)."""

    num_inference_steps: int = 100  # sec. 3.1
    eta: float = 0.2  # authors' code
    clip: float | None = 1.0  # x_0 estimates clipped to the data range [-1, 1]

    def __post_init__(self) -> None:
        if self.num_inference_steps < 1 or self.eta < 0:
            raise ConfigError("DDIM needs num_inference_steps >= 1 and eta >= 0")


class DdimSampler:
    """DDIM reverse process, eq. (5), on evenly spaced steps of a :class:`NoiseSchedule`.

    ``sigma_k = eta sqrt((1 - ab_prev) / (1 - ab_k)) sqrt(1 - ab_k / ab_prev)``
    (Song et al. 2021, eq. 16); ``eta = 0`` is deterministic, ``eta = 1`` is DDPM-like.
    """

    def __init__(self, schedule: NoiseSchedule, cfg: DdimConfig = DdimConfig()) -> None:
        if cfg.num_inference_steps > schedule.num_steps:
            raise ConfigError(f"{cfg.num_inference_steps} DDIM steps exceed the schedule's "
                              f"{schedule.num_steps}")
        self.schedule, self.cfg = schedule, cfg
        stride = schedule.num_steps // cfg.num_inference_steps
        self.timesteps = list(range(0, schedule.num_steps, stride))[::-1][
            -cfg.num_inference_steps:]  # descending, ends at 0
        self.stride = stride

    def step(self, eps: Tensor, k: int, xk: Tensor, noise: Tensor | None) -> StepOutput:
        """From step ``k`` to ``k - stride`` (or to the clean sample when ``k - stride < 0``)."""
        ab = self.schedule.alpha_bar[k].item()
        kp = k - self.stride
        ab_prev = self.schedule.alpha_bar[kp].item() if kp >= 0 else 1.0
        x0 = (xk - (1.0 - ab) ** 0.5 * eps) / ab**0.5
        if self.cfg.clip is not None:
            x0 = x0.clamp(-self.cfg.clip, self.cfg.clip)
            eps = (xk - ab**0.5 * x0) / (1.0 - ab) ** 0.5  # keep eps consistent with clipped x0
        sigma = self.cfg.eta * ((1 - ab_prev) / (1 - ab)) ** 0.5 * (1 - ab / ab_prev) ** 0.5
        direction = max(1.0 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
        prev = ab_prev**0.5 * x0 + direction
        if sigma > 0 and noise is not None:
            prev = prev + sigma * noise
        return StepOutput(prev, x0)

    @torch.no_grad()
    def sample(self, denoiser: Denoiser, shape: tuple[int, ...],
               generator: torch.Generator | None = None) -> Tensor:
        """Run eq. (5) from ``x_K ~ N(0, I)`` of ``shape [B, N]``; returns ``x_0 [B, N]``."""
        x = torch.randn(shape, generator=generator)
        for k in self.timesteps:
            steps = torch.full((shape[0],), k, dtype=torch.long)
            eps = denoiser(x, steps)
            noise = torch.randn(shape, generator=generator) if self.cfg.eta > 0 else None
            x = self.step(eps, k, x, noise).prev_sample
        return x
