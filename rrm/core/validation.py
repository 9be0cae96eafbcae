"""Whether an allocation fits the state it answers: one rule for the node and the guards.

The node refuses a control that breaks it (cause INVALID_MESSAGE, the
violation's detail); the xApp's guards trip on it before the control leaves
(``non_finite`` for a NaN or Inf, ``budget`` for everything else). Checks
run in a fixed order and the first failure wins:

============  ==============================================================
rule          breaks when
============  ==============================================================
``kind``      power control for a cell-free state, beamforming for the others
``non_finite`` any power or beamformer entry is NaN or Inf
``shape``     the allocation's shape is not the state's (``[..., K]`` powers;
              ``[..., B, K, M]`` beamformers and ``[..., B, K]`` association)
``association`` a cell-free association entry is not 0 or 1
``budget``    a power is negative or above its per-link budget, or an AP's
              total power ``sum_{k,m} |v_bkm|^2`` is above its budget (eq. 3c),
              beyond a relative ``tolerance``
============  ==============================================================

The fronthaul (eq. 3d) is the controller's responsibility: the node accepts
an overload (it only lowers the realised rates' value); the xApp's
``fronthaul`` guard checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rrm.core.types import (
    Allocation,
    BeamformingAllocation,
    CellFreeState,
    InterferenceState,
    PowerAllocation,
    State,
)

# relative slack on power budgets (float32 rounding); the node and the guards share it
BUDGET_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    """Why an allocation does not fit its state.

    Attributes:
        rule: 'kind', 'non_finite', 'shape', 'association' or 'budget'.
        detail: one line a user can act on.
    """

    rule: str
    detail: str


def _worst_ratio(load: np.ndarray, cap: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.max(load / cap))


def _within(power: np.ndarray, pmax: np.ndarray, tolerance: float) -> bool:
    """Every power finite and inside ``[0, pmax (1 + tolerance)]`` (same shapes).

    NaN fails both comparisons and an infinity the upper one unless its budget
    is infinite too, which the finiteness test then catches: True exactly when
    :func:`admit_power`'s ``non_finite`` and ``budget`` rules both pass.
    """
    inside = bool(((power >= 0) & (power <= pmax * (1 + tolerance))).all())
    return inside and bool(np.isfinite(power).all())


def admit_power(decision: Allocation, state: InterferenceState,
                tolerance: float = BUDGET_TOLERANCE) -> PowerAllocation | Violation:
    """``decision`` as a float64 :class:`PowerAllocation` for ``state``, or why it does not fit."""
    if not isinstance(decision, PowerAllocation):
        return Violation("kind", "this node takes power control, not beamforming")
    power = np.asarray(decision.power_w, dtype=np.float64)
    pmax = state.pmax_per_link  # (..., K)
    if power.shape == pmax.shape and _within(power, pmax, tolerance):
        return PowerAllocation(power, decision.iterations)  # the usual case: one fused test
    # the rules in the table's order, so the first broken one is named
    if not np.isfinite(power).all():
        return Violation("non_finite", "powers contain NaN or Inf")
    if power.shape != pmax.shape:
        return Violation("shape", f"{power.shape[-1] if power.ndim else power.size} powers "
                                  f"for K={state.num_links} links")
    if np.any(power < 0) or np.any(power > pmax * (1 + tolerance)):
        return Violation("budget", f"powers outside [0, pmax] "
                                   f"(max p/pmax = {_worst_ratio(power, pmax):.3g})")
    return PowerAllocation(power, decision.iterations)


def admit_beamforming(decision: Allocation, state: CellFreeState,
                      tolerance: float = BUDGET_TOLERANCE) -> BeamformingAllocation | Violation:
    """``decision`` as a complex128 / int8 beamforming allocation, or why it does not fit."""
    if not isinstance(decision, BeamformingAllocation):
        return Violation("kind", "this node takes beamforming, not power control")
    v, x = np.asarray(decision.v), np.asarray(decision.x)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(x))):
        return Violation("non_finite", "beamformers contain NaN or Inf")
    h_shape = np.shape(state.h)
    if v.shape != h_shape or x.shape != h_shape[:-1]:
        return Violation("shape", f"beamformers {v.shape} do not match channels {h_shape}")
    if not np.all(np.isin(x, (0, 1))):
        return Violation("association", "association not in {0, 1}")
    power = (np.abs(v) ** 2).sum(axis=(-2, -1))  # (..., B)
    pmax = state.pmax_per_ap
    if np.any(power > pmax * (1 + tolerance)):
        return Violation("budget", f"AP power above its budget "
                                   f"(max P/Pmax = {_worst_ratio(power, pmax):.3g})")
    return BeamformingAllocation(v.astype(np.complex128, copy=False), x.astype(np.int8, copy=False))


def check_allocation(decision: Allocation, state: State,
                     tolerance: float = BUDGET_TOLERANCE) -> Violation | None:
    """The first rule ``decision`` breaks for ``state`` (see the module table), or None."""
    admitted = (admit_beamforming(decision, state, tolerance) if isinstance(state, CellFreeState)
                else admit_power(decision, state, tolerance))
    return admitted if isinstance(admitted, Violation) else None
