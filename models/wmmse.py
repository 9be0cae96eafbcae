"""WMMSE power control for the SISO interference channel (Shi et al., IEEE TSP 2011).

Notation (gains convention of ARCHITECTURE.md, amplitudes ``v_k = sqrt(p_k)``):

=========  ==============================================================
symbol     meaning
=========  ==============================================================
``g``      ``[..., K, K]`` gains, ``g[k, j] = |h_kj|^2``
``h``      ``[..., K]`` direct amplitudes ``sqrt(g[k, k])``
``v``      ``[..., S, K]`` transmit amplitudes, one row per start
``u``      receiver (MMSE) coefficients, eq. (9) of Shi et al.
``w``      MSE weights ``1 / e_k``, eq. (10)
``a``      ``[..., K]`` rate weights alpha_k (WSR)
=========  ==============================================================

Each iteration (block-coordinate descent on the WMMSE problem, Shi et al.
Algorithm 1 specialised to SISO)::

    u_k = h_k v_k / (sum_j g_kj v_j^2 + sigma^2)
    w_k = 1 / (1 - u_k h_k v_k)
    v_k = clip( a_k w_k u_k h_k / sum_j a_j w_j u_j^2 g_jk, 0, sqrt(Pmax_k) )

The weighted sum rate never decreases (tested). Every start of every
instance is frozen once its WSR changes by at most ``tol`` relative to the
previous iterate; the loop ends when all are frozen or at ``max_iter``.

Iteration cap: on D18-like d2d instances (high SNR, strong interference)
the median start converges to a 1e-4 relative change within a few tens of
iterations but the slow tail needs hundreds (``bench/results/wmmse.md``);
``max_iter = 500`` reaches the tolerance on >95 % of them, and the xApp's
fallback runs with a lower cap (100) to bound its latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class WmmseStep:
    """State after one WMMSE iteration.

    Attributes:
        amplitude: ``[..., S, K]`` amplitudes ``sqrt(p)``.
        wsr: ``[..., S]`` weighted sum rate of ``amplitude`` (bit/s/Hz).
        active: ``[..., S]`` bool, starts still iterating.
    """

    amplitude: FloatArray
    wsr: FloatArray
    active: NDArray[np.bool_]


def weighted_sum_rate(g: FloatArray, amplitude: FloatArray, noise_w: FloatArray,
                      weights: FloatArray) -> FloatArray:
    """WSR ``[..., S]`` of amplitudes ``[..., S, K]`` on gains ``[..., K, K]``."""
    return _wsr(_Problem.of(g), amplitude, noise_w, weights)


class WmmseIteration:
    """The model-free WMMSE iteration; constructor arguments are its config.

    Args:
        max_iter: iteration cap.
        tol: relative WSR change under which a start is frozen.
    """

    def __init__(self, max_iter: int = 500, tol: float = 1e-4) -> None:
        if max_iter < 1 or tol < 0:
            raise ValueError("max_iter must be >= 1 and tol >= 0")
        self.max_iter, self.tol = max_iter, tol

    def step(self, g: FloatArray, noise_w: FloatArray, vmax: FloatArray, weights: FloatArray,
             prev: WmmseStep) -> WmmseStep:
        """One update of every still-active start.

        Args:
            g: ``[..., K, K]`` gains; noise_w ``[..., 1, K]`` or broadcastable, W.
            vmax: ``[..., 1, K]`` amplitude budgets ``sqrt(Pmax)``.
            weights: ``[..., S or 1, K]`` rate weights.
            prev: the previous state.
        """
        return self._step(_Problem.of(g), noise_w, vmax, weights, prev)

    def _step(self, pr: _Problem, noise_w: FloatArray, vmax: FloatArray, weights: FloatArray,
              prev: WmmseStep) -> WmmseStep:
        v = prev.amplitude
        total = (pr.g @ (v * v)[..., None])[..., 0] + noise_w  # (..., S, K)
        hv = pr.h * v
        u = hv / total
        w = 1.0 / (1.0 - u * hv)
        awu = weights * w * u
        denom = (pr.gt @ (awu * u)[..., None])[..., 0]  # sum_j a_j w_j u_j^2 g_jk
        # denom > 0 whenever any receiver listens (u_j > 0); else transmit at full power
        v_new = np.minimum(awu * pr.h / np.where(denom > 0, denom, np.inf), vmax)
        v_new = np.where(denom > 0, np.maximum(v_new, 0.0), vmax)
        v_new = np.where(prev.active[..., None], v_new, v)
        wsr = _wsr(pr, v_new, noise_w, weights)
        converged = np.abs(wsr - prev.wsr) <= self.tol * np.abs(prev.wsr)
        return WmmseStep(v_new, wsr, prev.active & ~converged)

    def solve(self, g: FloatArray, noise_w: FloatArray, pmax_w: FloatArray,
              weights: FloatArray, start_w: FloatArray) -> tuple[WmmseStep, NDArray[np.int64]]:
        """Iterate from ``start_w`` (``[..., S, K]`` watts) to convergence or the cap.

        Returns the final state and the iterations each start ran ``[..., S]``.
        """
        pr = _Problem.of(g)
        vmax = np.sqrt(pmax_w)
        v0 = np.sqrt(np.clip(start_w, 0.0, pmax_w))
        state = WmmseStep(v0, _wsr(pr, v0, noise_w, weights),
                          np.ones(v0.shape[:-1], dtype=bool))
        iterations = np.zeros(v0.shape[:-1], dtype=np.int64)
        for _ in range(self.max_iter):
            iterations += state.active
            state = self._step(pr, noise_w, vmax, weights, state)
            if not state.active.any():
                break
        return state, iterations


@dataclass(frozen=True)
class _Problem:
    """Per-solve constants: gains broadcast over starts, their transpose, sqrt diagonal."""

    g: FloatArray  # (..., 1, K, K)
    gt: FloatArray  # (..., 1, K, K), gt[k, j] = g[j, k]
    h: FloatArray  # (..., 1, K)
    diag: FloatArray  # (..., 1, K)

    @staticmethod
    def of(g: FloatArray) -> _Problem:
        diag = np.diagonal(g, axis1=-2, axis2=-1)[..., None, :]
        gb = g[..., None, :, :]
        return _Problem(gb, np.ascontiguousarray(np.swapaxes(gb, -1, -2)), np.sqrt(diag), diag)


def _wsr(pr: _Problem, amplitude: FloatArray, noise_w: FloatArray,
         weights: FloatArray) -> FloatArray:
    p = amplitude * amplitude
    total = (pr.g @ p[..., None])[..., 0] + noise_w  # (..., S, K)
    return (weights * np.log2(total / (total - pr.diag * p))).sum(-1)
