"""The two convex sub-problems of AO-SCA (EGAT Algorithm 1), as cvxpy problems built once.

Both are disciplined parametrized programs: one problem per ``(B, K, M)`` is
canonicalised once and re-solved with new parameter values for every
instance and iteration. Units inside: noise-normalised channels
``g_bk = h_bk / xi_k``, rates in nats, capacities ``C_b`` in nats/s/Hz.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from rrm.core.optional import require

if TYPE_CHECKING:
    import cvxpy as cp
else:
    cp = require("cvxpy")  # the rrm[cellfree] extra; aosca imports this module on first use

FloatArray = NDArray[np.float64]
SOLVER = "CLARABEL"


class GammaProblem:
    """Problem (12): ``max_gamma sum_k w_k log(1+gamma_k) - lambda_k gamma_k``.

    subject to ``sum_k coef_bk gamma_k <= rhs_b`` for every AP (the
    fronthaul constraint with ``log(1+gamma)`` linearised, eq. 11, and the
    smooth indicator eq. 14 of the current beamformers), ``gamma >= 0``.
    """

    def __init__(self, b: int, k: int) -> None:
        self.gamma = cp.Variable(k, nonneg=True)
        self.w = cp.Parameter(k, nonneg=True)
        self.lam = cp.Parameter(k)
        self.coef = cp.Parameter((b, k), nonneg=True)
        self.rhs = cp.Parameter(b)
        objective = cp.sum(cp.multiply(self.w, cp.log1p(self.gamma))) - self.lam @ self.gamma
        self.problem = cp.Problem(cp.Maximize(objective), [self.coef @ self.gamma <= self.rhs])

    def solve(self, w: FloatArray, lam: FloatArray, coef: FloatArray, rhs: FloatArray
              ) -> FloatArray | None:
        """``gamma [K]``, or None when the solver failed."""
        self.w.value, self.lam.value, self.coef.value, self.rhs.value = w, lam, coef, rhs
        return _solve(self.problem, self.gamma)


class BeamProblem:
    """Problem (16): ``max_V f(V, gamma, y)`` under the SCA fronthaul surrogate and power.

    ``f`` (eq. 10) up to constants is ``-||diag|y| G V||_F^2 + sum_k Re(c_k^H v_k)``
    with ``G [K, BM]`` the rows ``g_k^H`` and ``c_k = 2 sqrt(w_k (1+gamma_k)) y_k g_k``.
    Real and imaginary parts are separate real variables ``[BM, K]``.
    Constraint (16b): ``sum_k coef_bk ||v_bk|| <= rhs_b``; (3c): ``||V_b||_F^2 <= P_b``.
    """

    def __init__(self, b: int, k: int, m: int) -> None:
        self.b, self.k, self.m = b, k, m
        self.vr, self.vi = cp.Variable((b * m, k)), cp.Variable((b * m, k))
        self.ar, self.ai = cp.Parameter((k, b * m)), cp.Parameter((k, b * m))
        self.cr, self.ci = cp.Parameter((b * m, k)), cp.Parameter((b * m, k))
        self.coef = cp.Parameter((b, k), nonneg=True)
        self.rhs = cp.Parameter(b)
        self.pmax = cp.Parameter(b, nonneg=True)
        re = self.ar @ self.vr - self.ai @ self.vi
        im = self.ar @ self.vi + self.ai @ self.vr
        objective = (cp.sum(cp.multiply(self.cr, self.vr) + cp.multiply(self.ci, self.vi))
                     - cp.sum_squares(re) - cp.sum_squares(im))
        cons = []
        for ap in range(b):
            rows = slice(ap * m, (ap + 1) * m)
            norms = cp.hstack([cp.norm(cp.hstack([self.vr[rows, j], self.vi[rows, j]]))
                               for j in range(k)])
            cons.append(self.coef[ap, :] @ norms <= self.rhs[ap])
            cons.append(cp.sum_squares(self.vr[rows, :]) + cp.sum_squares(self.vi[rows, :])
                        <= self.pmax[ap])
        self.problem = cp.Problem(cp.Maximize(objective), cons)

    def solve(self, a: NDArray[np.complex128], c: NDArray[np.complex128], coef: FloatArray,
              rhs: FloatArray, pmax: FloatArray) -> NDArray[np.complex128] | None:
        """``v [B, K, M]`` complex, or None when the solver failed.

        Args:
            a: ``[K, BM]`` complex, ``diag|y| G``; c: ``[BM, K]`` complex linear coefficients.
        """
        self.ar.value, self.ai.value = a.real, a.imag
        self.cr.value, self.ci.value = c.real, c.imag
        self.coef.value, self.rhs.value, self.pmax.value = coef, rhs, pmax
        if _solve(self.problem, self.vr) is None or self.vi.value is None:
            return None
        v = np.asarray(self.vr.value) + 1j * np.asarray(self.vi.value)  # (BM, K)
        return np.transpose(v.reshape(self.b, self.m, self.k), (0, 2, 1))


def _solve(problem: cp.Problem, var: cp.Variable) -> FloatArray | None:
    try:
        problem.solve(solver=SOLVER)
    except cp.error.SolverError:
        return None
    if problem.status not in ("optimal", "optimal_inaccurate") or var.value is None:
        return None
    return np.asarray(var.value, dtype=np.float64)


@lru_cache(maxsize=16)
def gamma_problem(b: int, k: int) -> GammaProblem:
    """The cached problem (12) for B APs and K UEs."""
    return GammaProblem(b, k)


@lru_cache(maxsize=16)
def beam_problem(b: int, k: int, m: int) -> BeamProblem:
    """The cached problem (16) for B APs, K UEs and M antennas."""
    return BeamProblem(b, k, m)
