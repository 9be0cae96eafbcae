"""WMMSE power control for the SISO interference channel (Shi et al., IEEE TSP 2011).

The model-free iteration only: :class:`WmmseIteration` is configured by its
constructor (iteration cap, tolerances), ``step()`` advances a batch of
starts by one update and returns a frozen :class:`WmmseStep`, ``solve()``
runs to convergence (diffusers-scheduler style). The objective-aware
policies built on it (``wmmse``, ``wmmse-best``) live in
:mod:`rrm.models.wmmse_policy`.

Notation (gains convention of docs/architecture.md, amplitudes ``v_k = sqrt(p_k)``):

=============  ==========================================================
code           Shi et al. 2011 (SISO interference channel, K links)
=============  ==========================================================
``gains``      ``|h_kj|^2``, receiver k from transmitter j, ``[N, K, K]``
``h``          ``h_kk = sqrt(gains[k, k])``, direct amplitude, ``[N, 1, K]``
``v``          transmit amplitude ``v_k = sqrt(p_k)``, ``[N, S, K]``
``inr``        interference plus noise ``sum_{j!=k} |h_kj|^2 v_j^2 + sigma^2``
``u``          MMSE receiver coefficient ``u_k``
``w``          MSE weight ``w_k = 1 / e_k`` (``e_k`` the MMSE)
``weights``    rate weights ``alpha_k`` of the weighted sum rate
=============  ==========================================================

N instances (leading batch axes flattened), S starts per instance, K links.
One iteration is one pass of the WMMSE algorithm (Shi et al. 2011, Table I)
with single antennas, as written for the scalar interference channel in Sun
et al. 2018, Algorithm 1 (Jacobi: every link updates at once)::

    u_k = h_kk v_k / (sum_j |h_kj|^2 v_j^2 + sigma_k^2)          (MMSE receiver)
    w_k = 1 / (1 - u_k h_kk v_k)        (= 1 + SINR_k)            (MSE weight)
    v_k = clip( alpha_k w_k u_k h_kk / sum_j alpha_j w_j u_j^2 |h_jk|^2,
                0, sqrt(Pmax_k) )                                 (transmitter)

It is block-coordinate descent on the weighted-MMSE problem, whose optimum
in (u, w) recovers the weighted sum rate ``sum_k alpha_k log2(1 + SINR_k)``
(Shi et al. Theorem 1), so that rate never decreases from one iteration to
the next (tested). A start is frozen once ``|f_t - f_{t-1}| <= atol + tol *
|f_{t-1}|`` for its weighted sum rate ``f``; the loop ends when every start
is frozen or at ``max_iter``.

Iteration cap, measured (``max_iter=3000``, D18-like d2d snapshots of
:mod:`rrm.sim.scenarios.d2d`, 200 per K; iterations of the full-power start to
reach ``tol=1e-4``; 10 random starts per snapshot behave alike)::

    K    p50   p95   max  | converged within  100   200   500
    20    85   254   527  |                  0.62  0.92  0.99
    50    85   188   343  |                  0.62  0.97  1.00
    80    88   173   257  |                  0.63  0.98  1.00

At these SNRs (direct links up to 80 dB above the noise) a cap of 100 stops
about 40 % of the starts before they reach a 1e-4 relative change, so the
default cap here is 500 (>= 99 % converge); stopping at 100 costs 0.2-0.6 %
of the mean sum rate (``bench/results/wmmse.md``). With ``tol=1e-3`` the
median is under 20 iterations and 100 suffice (p95 <= 39).

The widely used reference setting of Sun et al. 2018 ("Learning to
optimize", TSP; their code stops after 100 iterations or once the sum rate
grows by at most 1e-3 bit/s/Hz) is ``max_iter=100, tol=0, atol=1e-3``. On
their Gaussian-channel test data (CN(0,1) amplitudes, noise 1, Pmax 1, 1000
samples, seed 7) it gives mean sum rates 2.7917 / 3.6552 / 4.1243 bit/s/Hz
at K = 10 / 20 / 30, their 2.79 / 3.66 / 4.12 (tested); run to
``tol=1e-8`` the same starts reach 2.7973 / 3.6655 / 4.1405 (+0.2-0.4 %).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
LN2 = float(np.log(2.0))


def _start_layout(x: ArrayLike, batch: tuple[int, ...], k: int) -> FloatArray:
    """``[N, S, K]`` view of a per-start (``batch + (S, K)``) or per-instance array.

    Per-instance values (scalar, ``[K]`` or ``batch + (K,)``) get ``S = 1``.
    """
    a = np.asarray(x, dtype=np.float64)
    n = int(np.prod(batch, dtype=np.int64))
    if a.ndim == len(batch) + 2:
        return np.broadcast_to(a, (*batch, a.shape[-2], k)).reshape(n, a.shape[-2], k)
    return np.broadcast_to(a, (*batch, k)).reshape(n, 1, k)


@dataclass(frozen=True)
class WmmseProblem:
    """Constants of one batched WMMSE solve (instances flattened to N).

    Attributes:
        gains: ``[N, K, K]`` float, ``|h_kj|^2``, receiver k from transmitter j.
        cross_t: ``[N, K, K]``, ``cross_t[j, k] = gains[k, j]`` for ``j != k``
            and 0 on the diagonal, so ``p @ cross_t`` is the interference.
        h: ``[N, 1, K]`` direct amplitudes ``sqrt(gains[k, k])``.
        noise_w: ``[N, 1, K]`` noise power, W.
        vmax: ``[N, 1, K]`` amplitude budgets ``sqrt(Pmax_k)``, sqrt(W).
        weights: ``[N, S or 1, K]`` rate weights ``alpha_k``.
        batch_shape: the caller's leading axes (``N = prod(batch_shape)``).
    """

    gains: FloatArray
    cross_t: FloatArray
    h: FloatArray
    noise_w: FloatArray
    vmax: FloatArray
    weights: FloatArray
    batch_shape: tuple[int, ...]

    @classmethod
    def build(cls, gains: ArrayLike, noise_w: ArrayLike, pmax_w: ArrayLike,
              weights: ArrayLike = 1.0) -> WmmseProblem:
        """Problem from ``gains [..., K, K]``; ``noise_w``/``pmax_w`` (W): scalar,
        ``[K]`` or ``[..., K]``; ``weights``: the same, or per start ``[..., S, K]``."""
        g = np.asarray(gains, dtype=np.float64)
        batch, k = g.shape[:-2], g.shape[-1]
        g = np.ascontiguousarray(g.reshape(-1, k, k))
        cross_t = np.ascontiguousarray(np.swapaxes(g, -1, -2))
        cross_t[:, np.arange(k), np.arange(k)] = 0.0
        h = np.sqrt(np.diagonal(g, axis1=-2, axis2=-1))[:, None, :]
        return cls(g, cross_t, h, _start_layout(noise_w, batch, k),
                   np.sqrt(_start_layout(pmax_w, batch, k)), _start_layout(weights, batch, k),
                   tuple(batch))

    def with_weights(self, weights: ArrayLike) -> WmmseProblem:
        """The same channel with other rate weights (``[N, S or 1, K]`` or scalar)."""
        a = np.broadcast_to(np.asarray(weights, dtype=np.float64),
                            np.broadcast_shapes(np.shape(weights), self.h.shape))
        return replace(self, weights=a)

    def take(self, rows: NDArray[np.intp] | BoolArray) -> WmmseProblem:
        """The sub-problem of some instances (``rows`` indexes the N axis)."""
        return replace(self, gains=self.gains[rows], cross_t=self.cross_t[rows], h=self.h[rows],
                       noise_w=self.noise_w[rows], vmax=self.vmax[rows],
                       weights=self.weights[rows])

    def interference_plus_noise(self, amplitude: FloatArray) -> FloatArray:
        """``sum_{j!=k} |h_kj|^2 v_j^2 + sigma_k^2``, ``[N, S, K]`` W (no cancellation)."""
        return (amplitude * amplitude) @ self.cross_t + self.noise_w

    def weighted_sum_rate(self, amplitude: FloatArray, inr: FloatArray) -> FloatArray:
        """``sum_k alpha_k log2(1 + SINR_k)``, ``[N, S]`` bit/s/Hz."""
        signal = (self.h * amplitude) ** 2
        return (self.weights * np.log1p(signal / inr)).sum(-1) / LN2


@dataclass(frozen=True)
class WmmseStep:
    """State of every start after an iteration (arrays ``[N, S, ...]``).

    Attributes:
        amplitude: ``[N, S, K]`` amplitudes ``v = sqrt(p)``, sqrt(W).
        wsr: ``[N, S]`` weighted sum rate of ``amplitude``, bit/s/Hz.
        converged: ``[N, S]`` bool, starts frozen by the tolerance test.
        inr: ``[N, S, K]`` interference plus noise at ``amplitude``, W.
    """

    amplitude: FloatArray
    wsr: FloatArray
    converged: BoolArray
    inr: FloatArray

    @property
    def power_w(self) -> FloatArray:
        """``[N, S, K]`` transmit powers ``v^2``, W."""
        return self.amplitude * self.amplitude

    def take(self, rows: NDArray[np.intp] | BoolArray) -> WmmseStep:
        """The states of some instances."""
        return WmmseStep(self.amplitude[rows], self.wsr[rows], self.converged[rows],
                         self.inr[rows])


@dataclass(frozen=True)
class WmmseResult:
    """Outcome of :meth:`WmmseIteration.solve`, axes ``batch_shape + (S, ...)``.

    Attributes:
        power_w: ``[..., S, K]`` final powers, W, within ``[0, Pmax]``.
        wsr: ``[..., S]`` their weighted sum rate, bit/s/Hz.
        iterations: ``[..., S]`` int, iterations each start ran before it froze.
        converged: ``[..., S]`` bool, False where ``max_iter`` stopped the start.
        trace: ``[T + 1, ..., S]`` weighted sum rate after 0..T iterations (a
            frozen start repeats its value), or None unless asked for.
    """

    power_w: FloatArray
    wsr: FloatArray
    iterations: IntArray
    converged: BoolArray
    trace: FloatArray | None = None


class WmmseIteration:
    """The model-free WMMSE iteration; constructor arguments are its saved config.

    Args:
        max_iter: iteration cap (see the module docstring for the measured
            iterations to convergence).
        tol: relative change of the weighted sum rate under which a start
            is frozen.
        atol: absolute change (bit/s/Hz) under which a start is frozen;
            the test is ``|f_t - f_{t-1}| <= atol + tol * |f_{t-1}|``.
    """

    def __init__(self, max_iter: int = 500, tol: float = 1e-4, atol: float = 0.0) -> None:
        if max_iter < 1 or tol < 0 or atol < 0:
            raise ValueError(f"need max_iter >= 1, tol >= 0, atol >= 0; got {max_iter}, "
                             f"{tol}, {atol}")
        self.max_iter, self.tol, self.atol = max_iter, tol, atol

    @property
    def config(self) -> dict[str, float]:
        """The constructor arguments (saved with results)."""
        return {"max_iter": self.max_iter, "tol": self.tol, "atol": self.atol}

    def init(self, problem: WmmseProblem, start_w: ArrayLike | None = None) -> WmmseStep:
        """State before the first iteration.

        Args:
            start_w: powers in W, per start ``batch + (S, K)`` or one start
                ``[K]`` / ``batch + (K,)``, clipped to ``[0, Pmax]``; None:
                full power (one start).
        """
        vmax = problem.vmax
        if start_w is None:
            v = vmax.copy()
        else:
            p = _start_layout(start_w, problem.batch_shape, vmax.shape[-1])
            v = np.sqrt(np.clip(p, 0.0, vmax * vmax))
        v = np.ascontiguousarray(np.broadcast_to(v, np.broadcast_shapes(
            v.shape, problem.weights.shape[:-1] + (1,))))
        inr = problem.interference_plus_noise(v)
        return WmmseStep(v, problem.weighted_sum_rate(v, inr),
                         np.zeros(v.shape[:-1], dtype=bool), inr)

    def step(self, problem: WmmseProblem, prev: WmmseStep) -> WmmseStep:
        """One update of every start not yet frozen (frozen ones are kept).

        ``u``, ``w`` from ``prev.amplitude``, then the clipped ``v`` update
        (module docstring; Shi et al. 2011, Algorithm 1 in SISO form).
        """
        pr, v = problem, prev.amplitude  # v: (N, S, K)
        hv = pr.h * v
        total = prev.inr + hv * hv  # sum_j |h_kj|^2 v_j^2 + sigma^2
        u = hv / total  # MMSE receiver
        w = total / prev.inr  # 1 / (1 - u h v) = 1 + SINR
        awu = pr.weights * w * u
        denom = (awu * u) @ pr.gains  # (N, S, K): sum_j alpha_j w_j u_j^2 |h_jk|^2
        # denom == 0 only when no receiver listens (every u_j = 0): restart at full power
        v_new = np.divide(awu * pr.h, denom, out=np.broadcast_to(pr.vmax, v.shape).copy(),
                          where=denom > 0)
        v_new = np.where(prev.converged[..., None], v, np.clip(v_new, 0.0, pr.vmax))
        inr = pr.interference_plus_noise(v_new)
        wsr = pr.weighted_sum_rate(v_new, inr)
        still = np.abs(wsr - prev.wsr) <= self.atol + self.tol * np.abs(prev.wsr)
        return WmmseStep(v_new, wsr, prev.converged | still, inr)

    def solve(self, gains: ArrayLike, noise_w: ArrayLike, pmax_w: ArrayLike,
              weights: ArrayLike = 1.0, start_w: ArrayLike | None = None,
              trace: bool = False) -> WmmseResult:
        """Iterate from ``start_w`` (default full power) to convergence or the cap.

        Args:
            gains: ``[..., K, K]`` linear power gains, receiver k from transmitter j.
            noise_w, pmax_w: scalar, ``[K]`` or ``[..., K]``, W.
            weights: rate weights: scalar, ``[K]``, ``[..., K]`` or per start ``[..., S, K]``.
            start_w: starting powers (see :meth:`init`).
            trace: also return the weighted sum rate after every iteration.
        """
        problem = WmmseProblem.build(gains, noise_w, pmax_w, weights)
        return self.run(problem, self.init(problem, start_w), trace)

    def run(self, problem: WmmseProblem, state: WmmseStep, trace: bool = False) -> WmmseResult:
        """Iterate ``state`` on ``problem``; see :meth:`solve`.

        Instances whose every start has frozen are dropped from the working
        set once they are half of it (amortised compaction), so a batch
        costs about its mean iteration count, not its maximum.
        """
        out = _Collector(state, trace)
        rows = np.arange(state.wsr.shape[0])
        sub_problem, sub = problem, state
        for _ in range(self.max_iter):
            out.iterations[rows] += ~sub.converged
            sub = self.step(sub_problem, sub)
            out.record(rows, sub)
            live = sub.converged.sum(axis=-1) < sub.converged.shape[-1]  # (n_rows,)
            if not live.any():
                break
            if 2 * live.sum() <= live.size:
                out.store(rows, sub)
                rows, sub_problem, sub = rows[live], sub_problem.take(live), sub.take(live)
        out.store(rows, sub)
        return out.result(problem.batch_shape)


class _Collector:
    """Full-batch arrays that the shrinking working set of :meth:`WmmseIteration.run`
    writes back into."""

    def __init__(self, state: WmmseStep, trace: bool) -> None:
        self.amplitude = state.amplitude.copy()
        self.wsr = state.wsr.copy()
        self.converged = state.converged.copy()
        self.iterations = np.zeros(state.wsr.shape, dtype=np.int64)
        self.trace: list[FloatArray] | None = [self.wsr.copy()] if trace else None

    def record(self, rows: NDArray[np.intp], sub: WmmseStep) -> None:
        if self.trace is not None:
            self.wsr[rows] = sub.wsr
            self.trace.append(self.wsr.copy())

    def store(self, rows: NDArray[np.intp], sub: WmmseStep) -> None:
        self.amplitude[rows], self.wsr[rows], self.converged[rows] = (
            sub.amplitude, sub.wsr, sub.converged)

    def result(self, batch: tuple[int, ...]) -> WmmseResult:
        s, k = self.amplitude.shape[-2:]
        trace = None if self.trace is None else np.stack(self.trace).reshape(-1, *batch, s)
        return WmmseResult((self.amplitude**2).reshape(*batch, s, k),
                           self.wsr.reshape(*batch, s), self.iterations.reshape(*batch, s),
                           self.converged.reshape(*batch, s), trace)


def weighted_sum_rate(gains: ArrayLike, power_w: ArrayLike, noise_w: ArrayLike,
                      weights: ArrayLike = 1.0) -> FloatArray:
    """``sum_k alpha_k log2(1 + SINR_k)`` of per-start powers ``[..., S, K]`` -> ``[..., S]``.

    Shapes as in :meth:`WmmseIteration.solve` (``[..., K]`` powers count as S = 1);
    the value the iteration never decreases.
    """
    problem = WmmseProblem.build(gains, noise_w, 1.0, weights)
    v = np.sqrt(_start_layout(power_w, problem.batch_shape, problem.h.shape[-1]))
    v = np.ascontiguousarray(v)
    wsr = problem.weighted_sum_rate(v, problem.interference_plus_noise(v))
    return wsr.reshape(*problem.batch_shape, -1)
