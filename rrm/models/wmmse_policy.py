"""The ``wmmse`` and ``wmmse-best`` policies, for every objective of the registry.

Both run :class:`rrm.models.wmmse.WmmseIteration` (Shi et al. 2011) and report,
per instance, the best iterate under the *true* objective, so either is a fair
baseline for every objective:

* ``sum`` / ``wsr``: WMMSE on the (weighted) sum rate directly (unit weights
  for ``sum``; ``state.weights``, else ``objective.weights``, for ``wsr``).
  The iteration is monotone, so the last iterate is the best one.
* ``pf`` and ``qos``: WMMSE for a sum utility ``sum_k U(r_k)`` (Shi et al.
  2011, Sec. IV, general utility functions): the rate weights of the WSR
  step are the marginal utilities ``alpha_k = U'(r_k)`` at the current rates,
  refreshed before every iteration (the per-iteration form of the classic
  proportional-fair reweighting, Kelly 1998):

  - ``pf``, ``U = log r``: ``alpha_k = 1 / max(r_k, 1e-3)``;
  - ``qos``, ``U = r - alpha max(0, r_min - r)`` (concave, not smooth): a
    supergradient, ``alpha_k = 1 + alpha`` below ``r_min`` and 1 above.

  Before each step a link is lifted to at least ``RESTART_FLOOR * Pmax``:
  zero power is a fixed point of the WMMSE update, so a link once switched
  off would never come back when its weight grows. The reweighted iteration
  is not monotone in U (rates can oscillate around ``r_min``), so each
  start keeps its best iterate under the true utility, the start itself
  included, and stops when its utility moved by at most ``tol`` (relative).
  Refreshing the weights every iteration beats outer rounds of many inner
  iterations by far. Mean utility gap to the oracle on random K = 3 and 4
  networks (CN(0,1) and wide-range gains, noise 1 and 0.05), ``wmmse`` /
  ``wmmse-best``: pf <= 0.001 / <= 0.001 and qos 0.11-0.37 / 0.02-0.08,
  against pf 0.003-0.34 / 0.003-0.12 and qos 0.19-1.2 / 0.10-0.35 with 30
  outer rounds of 20 WMMSE iterations each.

So the answer is never worse than the start under the true objective (for
``wmmse``: full power, i.e. ``full-reuse``).

``wmmse-best`` is the multi-start baseline of GFM-RA (sec. IV-A, "100
independent trials with random initializations"): the full-power start plus
``starts`` random starts uniform in ``[0, Pmax]``, stacked on a start axis so
that every iteration is one batched matmul for all of them, keeping the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import PowerAllocation, State
from rrm.models.classical import InterferenceBatch
from rrm.models.policy import Policy
from rrm.models.wmmse import WmmseIteration, WmmseProblem, WmmseStep

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
RESTART_FLOOR = 1e-3  # share of Pmax a switched-off link restarts from
PF_WEIGHT_FLOOR = 1e-3  # bit/s/Hz: pf weights 1 / max(r, floor) stay finite
BEST_CHUNK = 1 << 16  # wmmse-best: (instance, start, link) entries per chunk; cache-sized
# (measured at K=20/50/400: 1.5-2x faster than 2^21 entries, 512 KB per array)


@dataclass(frozen=True)
class WmmseDecision:
    """Best start per instance.

    Attributes:
        power_w: ``[n, K]`` W.
        utility: ``[n]`` true utility of ``power_w``.
        iterations: ``[n]`` WMMSE iterations of the slowest start.
        start: ``[n]`` index of the winning start.
    """

    power_w: FloatArray
    utility: FloatArray
    iterations: IntArray
    start: NDArray[np.intp]


def utility_weights(objective: Objective, rates: FloatArray) -> FloatArray:
    """WSR weights ``U'(r)`` of ``pf`` / ``qos`` at the current rates ``[..., K]`` bit/s/Hz.

    ``pf``: ``1 / max(r_k, floor)`` (gradient of sum log r). ``qos``:
    ``1 + alpha 1[r_k < r_min]`` (a supergradient of the penalised utility).
    """
    if objective.name == "pf":
        return np.asarray(1.0 / np.maximum(rates, PF_WEIGHT_FLOOR), dtype=np.float64)
    if objective.name == "qos":
        return np.asarray(1.0 + objective.alpha * (rates < objective.r_min), dtype=np.float64)
    raise InvalidInput(f"objective {objective.name!r} needs no reweighting")


class WmmseSolver:
    """Objective-aware WMMSE from S starts per instance (the engine of both policies).

    Args:
        max_iter, tol, atol: the WMMSE iteration (``sum`` / ``wsr``), and the
            cap / utility-change test of the reweighted one (``pf`` / ``qos``).
    """

    def __init__(self, max_iter: int = 500, tol: float = 1e-4, atol: float = 0.0) -> None:
        self.iteration = WmmseIteration(max_iter, tol, atol)

    def solve(self, batch: InterferenceBatch, objective: Objective,
              starts_w: FloatArray) -> WmmseDecision:
        """The best of the starts ``[n, S, K]`` (W) after WMMSE, per instance."""
        if objective.name in ("sum", "wsr"):
            weights = 1.0 if objective.name == "sum" else batch.weights
            res = self.iteration.solve(batch.gains, batch.noise_w, batch.pmax_w, weights,
                                       start_w=starts_w)
            return _pick(batch, objective, res.power_w, res.iterations.max(axis=-1))
        return self._reweighted(batch, objective, starts_w)

    def _reweighted(self, batch: InterferenceBatch, objective: Objective,
                    starts_w: FloatArray) -> WmmseDecision:
        """WMMSE with the weights ``U'(r)`` refreshed before every iteration.

        ============  ==========================================================
        ``v``         ``[n, S, K]`` amplitudes, lifted to ``vfloor`` before a step
        ``pr``        the problem with weights ``utility_weights(r)``, r the rates at ``v``
        ``u``         ``[n, S]`` true utility; ``best_*``: best iterate per start
        ``frozen``    ``[n, S]`` starts whose utility moved by <= tol (relative)
        ============  ==========================================================
        """
        it = self.iteration
        problem = WmmseProblem.build(batch.gains, batch.noise_w, batch.pmax_w)
        vfloor = np.sqrt(RESTART_FLOOR) * problem.vmax  # (n, 1, K)
        v = np.sqrt(starts_w)
        best_p, best_u = starts_w, batch.utility(objective, starts_w)  # (n, S, K), (n, S)
        previous, frozen = best_u, np.zeros(best_u.shape, dtype=bool)
        iterations = np.zeros(best_u.shape, dtype=np.int64)
        for _ in range(it.max_iter):
            pr = problem.with_weights(utility_weights(objective, batch.rates(v * v)))
            v = np.where(frozen[..., None], v, np.maximum(v, vfloor))  # p = 0 is a fixed point
            inr = pr.interference_plus_noise(v)
            v = it.step(pr, WmmseStep(v, pr.weighted_sum_rate(v, inr), frozen, inr)).amplitude
            iterations += ~frozen
            u = batch.utility(objective, v * v)
            better = u > best_u
            best_p, best_u = np.where(better[..., None], v * v, best_p), np.maximum(u, best_u)
            frozen |= np.abs(u - previous) <= it.atol + it.tol * np.abs(previous)
            previous = u
            if frozen.all():
                break
        return _pick(batch, objective, best_p, iterations.max(axis=-1))


def _pick(batch: InterferenceBatch, objective: Objective, power: FloatArray,
          iterations: IntArray) -> WmmseDecision:
    utility = batch.utility(objective, power)  # (n, S)
    start = np.argmax(utility, axis=-1)
    rows = np.arange(len(power))
    return WmmseDecision(power[rows, start], utility[rows, start], iterations, start)


def _warm_start(batch: InterferenceBatch, warm_start: ArrayLike | None) -> FloatArray:
    """``[n, 1, K]`` starting powers: ``warm_start`` (``[K]`` / ``[n, K]`` W) or full power."""
    if warm_start is None:
        return batch.pmax_w[:, None, :].copy()
    try:
        start = np.broadcast_to(np.asarray(warm_start, dtype=np.float64), batch.pmax_w.shape)
    except ValueError:
        raise InvalidInput(f"warm_start of shape {np.shape(warm_start)} does not match "
                           f"{batch.pmax_w.shape} links") from None
    if not np.all(np.isfinite(start)):
        raise InvalidInput("warm_start holds NaN or Inf")
    return np.clip(start, 0.0, batch.pmax_w)[:, None, :]


class WmmsePolicy(Policy):
    """Single-start WMMSE (full power, or a warm start).

    Args:
        max_iter: iteration cap, 100 by default: the widely used reference
            setting (Sun et al. 2018) and a bound on the latency of a per-slot
            decision. At d2d SNRs about 40 % of instances are still moving by
            more than 1e-4 then (see :mod:`rrm.models.wmmse`); pass 500 for
            converged answers. ``wmmse-best`` iterates up to 500.
        tol, atol: convergence test (relative / absolute change of the utility).
    """

    version = "shi2011-siso"
    supports_warm_start = True

    def __init__(self, max_iter: int = 100, tol: float = 1e-4, atol: float = 0.0, *,
                 name: str = "wmmse") -> None:
        super().__init__(name)
        self.solver = WmmseSolver(max_iter, tol, atol)

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Powers ``[..., K]`` W maximising ``objective`` from full power."""
        return self._solve(state, objective, None)

    def decide_warm(self, state: State, objective: Objective,
                    warm_start: ArrayLike) -> PowerAllocation:
        """Powers ``[..., K]`` W from ``warm_start`` (``[K]`` / ``[n, K]`` W, clipped to
        ``[0, pmax]``)."""
        return self._solve(state, objective, warm_start)

    def _solve(self, state: State, objective: Objective,
               warm_start: ArrayLike | None) -> PowerAllocation:
        batch = InterferenceBatch.of(state, objective)
        decision = self.solver.solve(batch, objective, _warm_start(batch, warm_start))
        return batch.allocation(decision.power_w, decision.iterations)


class WmmseBestPolicy(Policy):
    """Multi-start WMMSE: full power + ``starts`` random starts, the best kept.

    The random starts are ``U[0, 1]^(starts x K)`` shares of each instance's
    ``Pmax`` drawn once per call from ``np.random.default_rng(seed)``, so an
    instance gets the same starts alone or in a batch (same seed, same answer).

    Args:
        starts: random starts per instance (GFM-RA sec. IV-A uses 100).
        seed: seed of the random starts.
        max_iter, tol, atol: as for ``wmmse`` (cap 500 by default).
    """

    version = "shi2011-siso-multistart"

    def __init__(self, starts: int = 100, seed: int = 0, max_iter: int = 500,
                 tol: float = 1e-4, atol: float = 0.0, *, name: str = "wmmse-best") -> None:
        super().__init__(name)
        if starts < 0:
            raise InvalidInput(f"starts must be >= 0, got {starts}")
        self.starts, self.seed = starts, seed
        self.solver = WmmseSolver(max_iter, tol, atol)

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Powers ``[..., K]`` W: the best of all starts under ``objective``."""
        batch = InterferenceBatch.of(state, objective)
        n, k = batch.pmax_w.shape
        shares = np.random.default_rng(self.seed).uniform(size=(self.starts, k))
        pmax = batch.pmax_w[:, None, :]
        starts = np.concatenate([pmax, shares * pmax], axis=1)  # (n, 1 + starts, K)
        # instances in chunks bound the memory of the (n, S, K) iterates at large K
        per = max(1, BEST_CHUNK // ((self.starts + 1) * k))
        parts = [self.solver.solve(_rows(batch, lo, lo + per), objective, starts[lo:lo + per])
                 for lo in range(0, n, per)]
        return batch.allocation(np.concatenate([d.power_w for d in parts]),
                                np.concatenate([d.iterations for d in parts]))


def _rows(batch: InterferenceBatch, lo: int, hi: int) -> InterferenceBatch:
    return InterferenceBatch(batch.gains[lo:hi], batch.noise_w[lo:hi], batch.pmax_w[lo:hi],
                             batch.weights[lo:hi], False)
