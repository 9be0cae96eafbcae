"""Ergodic evaluation of time-shared allocation policies (seed 004, eq. 15, sec. 3.2).

A policy is a set of candidate allocations per network, ``shares [I, S, N]``
(``p / Pmax``): at slot t every network plays one of its S candidates drawn
uniformly and sees a fresh Rayleigh fading draw; the ergodic rate of user j
after T slots is ``(1/T) sum_t r_j(x_t, H_t)`` (eq. 15). Deterministic
baselines are the one-candidate case: AP (the mean of the expert's samples)
and FP (full power).

Metrics over all users of all networks: p1 / p5 / p10 percentiles, mean
rate (sum-rate utility / N), feasibility (share of users whose ergodic rate
is at least f_min) and Jain's fairness index ``(sum r)^2 / (N sum r^2)``
averaged over networks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from rrm.core import physics, physics_torch

FloatArray = NDArray[np.float64]
SLOT_CHUNK = 50  # slots per vectorised block: (chunk, I, N, N) gains stay a few MB
CHUNK_ELEMENTS = 2**22  # at most this many gains per block (N = 400: 26 network-slots, 34 MB)


@dataclass(frozen=True)
class ErgodicMetrics:
    """Rates in bit/s/Hz; feasibility and jain in [0, 1]."""

    p1: float
    p5: float
    p10: float
    mean: float
    feasibility: float
    jain: float

    def as_dict(self) -> dict[str, float]:
        """Rounded, JSON-ready."""
        return {k: round(v, 4) for k, v in asdict(self).items()}


def cumulative_rates(large_scale: FloatArray, shares: FloatArray, noise_w: float,
                     pmax_w: float, slots: int, rng: np.random.Generator) -> FloatArray:
    """``[T, I, N]`` ergodic rates after 1..T slots of time sharing ``shares [I, S, N]``.

    The draws (candidate index, then fading) come from ``rng`` in slot chunks,
    so two policies evaluated with equal seeds see the same fading.
    """
    g = np.asarray(large_scale, dtype=np.float64)
    i_count, s_count, _ = shares.shape
    per_slot = np.empty((slots, i_count, g.shape[-1]))
    rows = np.arange(i_count)
    chunk = max(1, min(SLOT_CHUNK, CHUNK_ELEMENTS // g.size))  # 50 at small N
    for lo in range(0, slots, chunk):
        t = min(chunk, slots - lo)
        pick = rng.integers(0, s_count, size=(t, i_count))  # (t, I)
        fading = rng.exponential(size=(t, *g.shape))  # (t, I, N, N)
        power = pmax_w * shares[rows[None, :], pick]  # (t, I, N)
        per_slot[lo:lo + t] = physics.rates(g[None] * fading, power, noise_w)
    return np.cumsum(per_slot, axis=0) / np.arange(1, slots + 1)[:, None, None]


def metrics(ergodic: FloatArray, f_min: FloatArray) -> ErgodicMetrics:
    """Metrics of ergodic rates ``[I, N]`` against ``f_min [I]`` (or ``[I, N]``)."""
    r = np.asarray(ergodic, dtype=np.float64)
    fmin = np.asarray(f_min, dtype=np.float64)
    fmin = np.broadcast_to(fmin[:, None] if fmin.ndim == 1 else fmin, r.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        jain = np.where((r**2).sum(-1) > 0,
                        r.sum(-1) ** 2 / (r.shape[-1] * (r**2).sum(-1)), 0.0)
    p1, p5, p10 = np.percentile(r, [1, 5, 10])
    return ErgodicMetrics(float(p1), float(p5), float(p10), float(r.mean()),
                          float(np.mean(r >= fmin)), float(jain.mean()))


def percentile_curves(cumulative: FloatArray) -> dict[str, FloatArray]:
    """p1 / p5 / mean over users and networks of ``[T, I, N]``, per slot: ``[T]`` each."""
    flat = cumulative.reshape(cumulative.shape[0], -1)
    p1, p5 = np.percentile(flat, [1, 5], axis=1)
    return {"p1": p1, "p5": p5, "mean": flat.mean(axis=1)}


def ergodic_rates_torch(large_scale: Tensor, shares: Tensor, noise_w: float, pmax_w: float,
                        slots: int, generator: torch.Generator,
                        chunk_elements: int = 2**26) -> Tensor:
    """``[I, N]`` ergodic rates after ``slots`` slots: the final row of :func:`cumulative_rates`.

    The same time sharing (a uniform candidate and a fresh Rayleigh draw per
    slot and network) as one tensor program on the device of ``large_scale
    [I, N, N]`` and ``shares [I, S, N]``; the draws come from ``generator``
    (on that device), so it matches the numpy version in distribution. A
    block holds at most ``chunk_elements`` gains (2^26: 256 MB of float32).
    """
    i_count, s_count, n = shares.shape
    scale = noise_w / pmax_w  # rates are invariant to scaling gains and noise together
    g = (large_scale / scale).float()
    total = torch.zeros(i_count, n, device=g.device)
    rows = torch.arange(i_count, device=g.device)
    chunk = max(1, min(SLOT_CHUNK, chunk_elements // g.numel()))
    for lo in range(0, slots, chunk):
        t = min(chunk, slots - lo)
        pick = torch.randint(0, s_count, (t, i_count), generator=generator, device=g.device)
        fading = torch.empty((t, *g.shape), device=g.device).exponential_(generator=generator)
        power = shares[rows[None, :], pick].float()  # (t, I, N)
        total += physics_torch.rates(g[None] * fading, power, 1.0).sum(0)
    return total / slots
