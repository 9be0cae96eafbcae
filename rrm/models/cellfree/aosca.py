"""The ``ao-sca`` baseline: EGAT Algorithm 1 (quadratic transform + alternating SCA).

Per instance, from a feasible start (``V^(0)``: maximum ratio at full power
on every pair, ``gamma^(0) = 0``), each iteration

1. updates ``gamma`` by the convex problem (12): the Lagrangian (6) with
   ``lambda_k^* = w_k / (1 + SINR_k)`` (eq. 7) under the fronthaul constraint
   with ``log(1 + gamma)`` linearised at the previous ``gamma`` (eq. 11) and
   the indicator replaced by its smooth approximation (eq. 14) at ``V^(t-1)``;
2. sets ``y`` in closed form (eq. 13);
3. updates ``V`` by the convex problem (16): ``max f`` (eq. 10) under the
   SCA surrogate (15) of the smoothed fronthaul constraint and the power budgets.

``max_y f(V, gamma, y) = L1(V, gamma, lambda^*)``, and each step keeps the
previous point feasible (both surrogates are upper bounds tight at the
previous point), so ``f`` never decreases (sec. III-C); :func:`ao_sca`
returns the history to check it. A solver failure keeps the previous block.

The smooth indicator (14) is taken relative to the budget,
``log(||v|| / (delta sqrt(P_b)) + 1) / log(1/delta + 1)``, so ``delta`` does not
depend on the power unit. The answer's association is ``x_bk = 1`` where
``||v_bk||^2 > off_share P_b``; then, since (14) under-counts small
beamformers, the policy applies the heuristic scaling of sec. V-A (``scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, State
from rrm.models.cellfree.batch import CellFreeBatch, ComplexArray, FloatArray
from rrm.models.cellfree.fronthaul import scale_to_fronthaul
from rrm.models.cellfree.wmmse import mrt_start
from rrm.models.policy import Policy

LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class AoScaConfig:
    """Algorithm 1's parameters."""

    max_iter: int = 10  # Fig. 4a: converges within 8-10 iterations
    tol: float = 1e-4  # epsilon of line 7, relative change of f
    delta: float = 1e-3  # delta of eq. (14), relative to sqrt(P_b) (not given in the paper)
    off_share: float = 1e-2  # ||v_bk||^2 / P_b below this counts as x_bk = 0 (ours)


@dataclass(frozen=True)
class AoScaResult:
    """One instance's answer: ``v [B,K,M]``, ``gamma [K]`` and ``f`` after each iteration."""

    v: ComplexArray
    gamma: FloatArray
    history: list[float]


def _gains(g: ComplexArray, v: ComplexArray) -> ComplexArray:
    """``a [K, J] = sum_b g_bk^H v_bj`` for one instance (noise-normalised)."""
    return np.einsum("bkm,bjm->kj", g.conj(), v)


def f_value(g: ComplexArray, v: ComplexArray, gamma: FloatArray, y: ComplexArray,
            w: FloatArray) -> float:
    """``f(V, gamma, y)`` of eq. (10) in nats (noise normalised to 1)."""
    a = _gains(g, v)
    total = (np.abs(a) ** 2).sum(axis=-1) + 1.0
    cross = 2.0 * np.sqrt(w * (1.0 + gamma)) * np.real(np.conj(y) * np.diagonal(a))
    return float(np.sum(w * np.log1p(gamma) - w * gamma - np.abs(y) ** 2 * total + cross))


def smooth_indicator(v: ComplexArray, pmax: FloatArray, delta: float) -> FloatArray:
    """Eq. (14) ``[B, K]`` relative to ``sqrt(P_b)``."""
    rel = np.linalg.norm(v, axis=-1) / np.sqrt(pmax)[:, None]
    return np.log1p(rel / delta) / np.log1p(1.0 / delta)


def _step_gamma(g: ComplexArray, v: ComplexArray, gamma: FloatArray, w: FloatArray,
                cap: FloatArray, pmax: FloatArray, delta: float) -> FloatArray:
    from rrm.models.cellfree.aosca_problems import gamma_problem  # cvxpy loads on first use

    a = _gains(g, v)
    power = np.abs(a) ** 2
    sinr = np.diagonal(power) / (power.sum(axis=-1) - np.diagonal(power) + 1.0)
    ind = smooth_indicator(v, pmax, delta)  # (B, K)
    coef = ind / (1.0 + gamma)
    rhs = cap - ind @ (np.log1p(gamma) - gamma / (1.0 + gamma))
    new = gamma_problem(*ind.shape).solve(w, w / (1.0 + sinr), coef, rhs)
    return gamma if new is None else np.maximum(new, 0.0)


def _step_v(g: ComplexArray, v: ComplexArray, gamma: FloatArray, y: ComplexArray,
            w: FloatArray, cap: FloatArray, pmax: FloatArray, delta: float) -> ComplexArray:
    from rrm.models.cellfree.aosca_problems import beam_problem  # cvxpy loads on first use

    b, k, m = g.shape
    gs = np.transpose(g, (1, 0, 2)).reshape(k, b * m)  # (K, BM): g_k
    a = np.abs(y)[:, None] * gs.conj()
    c = (2.0 * np.sqrt(w * (1.0 + gamma)) * y)[:, None] * gs  # (K, BM)
    norm_hat = np.linalg.norm(v, axis=-1)  # (B, K)
    d_b = delta * np.sqrt(pmax)[:, None]
    scale = np.log1p(gamma)[None, :] / np.log1p(1.0 / delta)  # (1, K)
    coef = scale / (norm_hat + d_b)
    rhs = cap - (scale * (np.log1p(norm_hat / d_b) - norm_hat / (norm_hat + d_b))).sum(axis=-1)
    new = beam_problem(b, k, m).solve(a, c.T, coef, rhs, pmax)
    return v if new is None else new


def ao_sca(g: ComplexArray, w: FloatArray, cap_nats: FloatArray, pmax: FloatArray,
           cfg: AoScaConfig = AoScaConfig()) -> AoScaResult:
    """Algorithm 1 for one instance.

    Args:
        g: ``[B, K, M]`` noise-normalised channels ``h_bk / xi_k``.
        w: ``[K]`` weights; cap_nats: ``[B]`` capacities in nats/s/Hz; pmax: ``[B]`` W.
    """
    b, k, _ = g.shape
    one = CellFreeBatch(g[None], np.ones((1, k)), pmax[None], cap_nats[None], w[None], 1.0, False)
    v = mrt_start(one, np.ones((1, b, k)))[0]
    gamma = np.zeros(k)
    history: list[float] = []
    for _ in range(cfg.max_iter):
        gamma = _step_gamma(g, v, gamma, w, cap_nats, pmax, cfg.delta)
        a = _gains(g, v)
        y = np.sqrt(w * (1.0 + gamma)) * np.diagonal(a) / ((np.abs(a) ** 2).sum(-1) + 1.0)
        v = _step_v(g, v, gamma, y, w, cap_nats, pmax, cfg.delta)
        history.append(f_value(g, v, gamma, y, w))
        if len(history) > 1 and abs(history[-1] - history[-2]) <= cfg.tol * abs(history[-2]):
            break
    return AoScaResult(v=v, gamma=gamma, history=history)


def ao_sca_batch(batch: CellFreeBatch, cfg: AoScaConfig = AoScaConfig()
                 ) -> tuple[ComplexArray, np.ndarray]:
    """Algorithm 1 on every instance: ``v [n,B,K,M]``, ``x [n,B,K]`` int8 (not scaled)."""
    g = batch.h / np.sqrt(batch.noise_w)[:, None, :, None]
    v = np.zeros_like(batch.h)
    for i in range(batch.shape[0]):
        v[i] = ao_sca(g[i], batch.weights[i], batch.cap[i] * LN2, batch.pmax_w[i], cfg).v
    x = ((np.abs(v) ** 2).sum(-1) > cfg.off_share * batch.pmax_w[..., None]).astype(np.int8)
    return v * x[..., None], x


class AoScaPolicy(Policy):
    """Algorithm 1 per instance, then (by default) the heuristic fronthaul scaling."""

    version = "1"

    def __init__(self, max_iter: int = AoScaConfig.max_iter, scale: bool = True, *,
                 name: str = "ao-sca") -> None:
        super().__init__(name)
        self.cfg = AoScaConfig(max_iter=max_iter)
        self.scale = scale

    def decide(self, state: State, objective: Objective) -> BeamformingAllocation:
        """Beamformers and association; fronthaul-feasible when ``scale``."""
        batch = CellFreeBatch.of(state, objective)
        v, x = ao_sca_batch(batch, self.cfg)
        if self.scale:
            v, x, _ = scale_to_fronthaul(batch, v, x)
        return batch.allocation(v, x)
