"""Guards: checks every decision passes before it leaves the xApp.

A tripped guard names itself; the slot loop then falls back to WMMSE. Guards
run in a fixed order and the first failure wins:

==================  ======================================================
guard               trips when
==================  ======================================================
``input_support``   the indication is outside what the policy supports
                    (checked before deciding, e.g. K above the model's limit)
``policy_error``    the policy raised instead of answering
``policy_unavailable``
                    the policy had no answer this slot (e.g. its sample buffer
                    is empty or stale); raised as ``PolicyUnavailable``
``non_finite``      any output is NaN or Inf
``budget``          a power is negative or above its budget (per link, or
                    per AP for cell-free) beyond a relative tolerance, or the
                    output does not fit the state (kind, shape, association
                    outside {0, 1}); the same rule the node applies
                    (:mod:`rrm.core.validation`)
``fronthaul``       a cell-free AP's fronthaul load exceeds its capacity
``deadline``        the decision took longer than the slot's budget
``distribution_shift``
                    the policy's shift score of the state (how far it lies
                    from the model's training data, docs/gfm.md "Shift
                    guard") is above ``shift_threshold``; policies that do
                    not score states never trip it
``utility``         utility < reference utility - margin * |reference|,
                    the reference being full reuse (cheap, always feasible);
                    skipped for time-sharing policies, whose single slots may
                    trade sum rate for ergodic minimum rates
``qos``             the fraction of links below r_min exceeds a threshold
==================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rrm.core import physics
from rrm.core.objectives import Objective
from rrm.core.types import (
    Allocation,
    BeamformingAllocation,
    InterferenceState,
    PowerAllocation,
    State,
)
from rrm.core.validation import BUDGET_TOLERANCE, check_allocation
from rrm.models.policy import SHIFT_THRESHOLD
from rrm.xapp.transport.screen import SizeLimits

GUARD_NAMES = ("input_support", "policy_error", "policy_unavailable", "non_finite", "budget",
               "fronthaul", "deadline", "distribution_shift", "utility", "qos")


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of the guards.

    Attributes:
        max_links: largest K the xApp accepts for any policy.
        max_aps / max_antennas: largest B and M of a cell-free indication.
        max_cellfree_entries: largest B * K * M (the size of ``h``, which the
            cell-free fallback's cost grows with).
        budget_tolerance: relative slack on power budgets (rounding).
        utility_margin: relative margin below the full-reuse utility that is
            still accepted (0.05 = 5 % worse allowed). Negative disables.
        qos_violation_max: largest accepted fraction of links below r_min
            (1.0 disables the guard).
        r_min: QoS rate threshold in bit/s/Hz for the qos guard.
        shift_threshold: largest accepted shift score (a Mahalanobis distance
            from the training data, :mod:`rrm.models.gfm.shift`). Negative disables.
    """

    max_links: int = 400
    # ours: 8x Table I's cell-free network (B=8 APs, M=2 antennas) in B and M
    max_aps: int = 64
    max_antennas: int = 16
    max_cellfree_entries: int = 1 << 16  # 1 MiB of complex128 h
    budget_tolerance: float = BUDGET_TOLERANCE
    utility_margin: float = 0.05
    qos_violation_max: float = 1.0
    r_min: float = 0.3
    shift_threshold: float = SHIFT_THRESHOLD


@dataclass(frozen=True)
class Verdict:
    """Result of the guards: ``guard`` is empty when every guard passed."""

    guard: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        """True when no guard tripped."""
        return not self.guard


PASS = Verdict()


@dataclass(frozen=True)
class DecisionContext:
    """What the guards look at for one decision."""

    state: State
    allocation: Allocation
    objective: Objective
    latency_s: float
    deadline_s: float
    time_sharing: bool = False  # the policy time-shares: no per-slot utility guard
    shift_score: float | None = None  # the policy's shift score of the state (None: unscored)

    # what the guards compute once and share (the rates); not part of the context's value
    _memo: dict[str, np.ndarray | None] = field(default_factory=dict, compare=False,
                                                repr=False)

    @property
    def rates(self) -> np.ndarray | None:
        """``[..., 2, K]`` bit/s/Hz: the rates of the policy's powers (row 0) and of full
        reuse, every link at its budget (row 1), computed once per decision for the
        ``utility`` and ``qos`` guards (:func:`rrm.core.physics.rates_of`: each row bit
        for bit what :func:`rrm.core.physics.rates` gives); None unless this is power
        control of an interference network. Read after the ``budget`` guard passed
        (the powers then have the budgets' shape)."""
        if "rates" not in self._memo:
            self._memo["rates"] = _policy_and_full_reuse_rates(self.allocation, self.state)
        return self._memo["rates"]


def _policy_and_full_reuse_rates(a: Allocation, s: State) -> np.ndarray | None:
    """:attr:`DecisionContext.rates` (computed)."""
    if not (isinstance(a, PowerAllocation) and isinstance(s, InterferenceState)):
        return None
    power = np.asarray(a.power_w, dtype=np.float64)
    pmax = s.pmax_per_link
    powers = (np.array((power, pmax)) if power.ndim == 1  # (2, K)
              else np.stack((power, pmax), axis=-2))  # (..., 2, K)
    noise = np.asarray(s.noise_w, dtype=np.float64)
    return physics.rates_of(s.gains, powers, noise[..., None, :] if noise.ndim else noise)


def check_input(state: State, cfg: GuardConfig, policy_max_links: int | None = None) -> Verdict:
    """The ``input_support`` guard, run before the policy decides (B, K and M)."""
    k = state.num_links if isinstance(state, InterferenceState) else state.h.shape[-2]
    limit = min(cfg.max_links, policy_max_links or cfg.max_links)
    if k > limit:
        return Verdict("input_support", f"K={k} above the supported {limit}")
    if not isinstance(state, InterferenceState):
        b, m = state.h.shape[-3], state.h.shape[-1]
        for name, value, bound in (("B", b, cfg.max_aps), ("M", m, cfg.max_antennas),
                                   ("B*K*M", b * k * m, cfg.max_cellfree_entries)):
            if value > bound:
                return Verdict("input_support", f"{name}={value} above the supported {bound}")
    return PASS


def size_limits(cfg: GuardConfig) -> SizeLimits:
    """The guards' size bounds, as the transports screen indications before decoding."""
    return SizeLimits(cfg.max_links, cfg.max_aps, cfg.max_antennas, cfg.max_cellfree_entries)


def _allocation(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    """``non_finite`` and ``budget``: the rule the node applies (:mod:`rrm.core.validation`)."""
    violation = check_allocation(ctx.allocation, ctx.state, cfg.budget_tolerance)
    if violation is None:
        return PASS
    return Verdict("non_finite" if violation.rule == "non_finite" else "budget", violation.detail)


def _fronthaul(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    a, s = ctx.allocation, ctx.state
    if not isinstance(a, BeamformingAllocation) or isinstance(s, InterferenceState):
        return PASS
    from rrm.core.cellfree_physics import fronthaul_load_bps
    from rrm.core.cellfree_physics import rates as cf_rates

    load = fronthaul_load_bps(a.x, cf_rates(s.h, a.v, a.x, s.noise_w), s.bandwidth_hz)
    cap = s.fronthaul_per_ap  # (..., B)
    if np.any(load > cap * (1 + cfg.budget_tolerance)):
        worst = float(np.max(load / cap))
        return Verdict("fronthaul", f"fronthaul load above capacity (max {worst:.3g}x)")
    return PASS


def _deadline(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    if ctx.latency_s > ctx.deadline_s:
        return Verdict("deadline", f"decision took {ctx.latency_s * 1e3:.2f} ms "
                                   f"> budget {ctx.deadline_s * 1e3:.2f} ms")
    return PASS


def _distribution_shift(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    score = ctx.shift_score
    if score is None or cfg.shift_threshold < 0 or not score > cfg.shift_threshold:
        return PASS
    return Verdict("distribution_shift", f"shift score {score:.3g} above "
                                         f"{cfg.shift_threshold:g} (outside the training data)")


def _utility(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    rates = ctx.rates if cfg.utility_margin >= 0 and not ctx.time_sharing else None
    if rates is None:
        return PASS
    obj = ctx.objective
    if ctx.state.weights is not None and obj.name == "wsr":  # type: ignore[union-attr]
        obj = obj.with_weights(ctx.state.weights)  # type: ignore[union-attr]
    both = obj.utility(rates)  # (..., 2): each row's utility, as if computed alone
    mine, ref = float(both[..., 0]), float(both[..., 1])
    if mine < ref - cfg.utility_margin * abs(ref):
        return Verdict("utility", f"utility {mine:.4g} below full reuse {ref:.4g} "
                                  f"by more than {cfg.utility_margin:.0%}")
    return PASS


def _qos(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    rates = ctx.rates if cfg.qos_violation_max < 1.0 else None
    if rates is None:
        return PASS
    frac = float(np.mean(rates[..., 0, :] < cfg.r_min))
    if frac > cfg.qos_violation_max:
        return Verdict("qos", f"{frac:.0%} of links below r_min={cfg.r_min} "
                              f"(limit {cfg.qos_violation_max:.0%})")
    return PASS


_OUTPUT_GUARDS: tuple[Callable[[DecisionContext, GuardConfig], Verdict], ...] = (
    _allocation, _fronthaul, _deadline, _distribution_shift, _utility, _qos,
)


def check_decision(ctx: DecisionContext, cfg: GuardConfig) -> Verdict:
    """Run the output guards in order; the first that trips is returned."""
    for guard in _OUTPUT_GUARDS:
        verdict = guard(ctx, cfg)
        if not verdict.passed:
            return verdict
    return PASS
