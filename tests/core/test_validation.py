"""The allocation rule: each violation named once, in the documented order."""

import numpy as np
import pytest

from rrm.core.types import BeamformingAllocation, CellFreeState, InterferenceState, PowerAllocation
from rrm.core.validation import admit_beamforming, admit_power, check_allocation
from rrm.core.wire.messages import PROTOCOL_VERSION, Cause, version_refusal

K = 3
STATE = InterferenceState(np.eye(K), 1e-3, np.array([1.0, 0.5, 0.25]))
CF = CellFreeState(np.ones((2, K, 2), complex), 1e-3, 1.0, 1e6, 2e7)


@pytest.mark.parametrize("power, rule", [
    ([1.0, 0.5, 0.25], None),
    ([0.0, 0.0, 0.0], None),
    ([1.0, 0.5, 0.26], "budget"),
    ([1.0, -0.1, 0.0], "budget"),
    ([1.0, 0.5], "shape"),
    ([np.nan, 0.5], "non_finite"),  # NaN is named before the shape
])
def test_power_rules(power, rule):
    v = check_allocation(PowerAllocation(np.asarray(power)), STATE)
    assert (v.rule if v else None) == rule


def test_admitted_allocations_are_canonical_copies_of_the_right_kind():
    p = admit_power(PowerAllocation(np.array([1, 0, 0])), STATE)
    assert isinstance(p, PowerAllocation) and p.power_w.dtype == np.float64
    bf = admit_beamforming(BeamformingAllocation(np.zeros((2, K, 2)), np.ones((2, K))), CF)
    assert isinstance(bf, BeamformingAllocation)
    assert bf.v.dtype == np.complex128 and bf.x.dtype == np.int8
    assert check_allocation(PowerAllocation(np.zeros(K)), CF).rule == "kind"
    assert check_allocation(bf, STATE).rule == "kind"


def test_tolerance_is_relative():
    over = PowerAllocation(np.array([1.0 + 1e-5, 0.5, 0.25]))
    assert check_allocation(over, STATE).rule == "budget"
    assert check_allocation(over, STATE, tolerance=1e-4) is None
    rounding = PowerAllocation(np.array([1.0 + 1e-7, 0.5, 0.25]))  # float32 rounding
    assert check_allocation(rounding, STATE) is None


def test_version_refusal_names_both_versions():
    assert version_refusal(PROTOCOL_VERSION) is None
    refusal = version_refusal(PROTOCOL_VERSION + 1)
    assert refusal is not None and refusal.cause == Cause.UNSUPPORTED_VERSION
    assert f"v{PROTOCOL_VERSION}" in refusal.detail and f"v{PROTOCOL_VERSION + 1}" in refusal.detail


def _rules_one_by_one(power: np.ndarray, pmax: np.ndarray, tolerance: float) -> str | None:
    """The power rules checked one at a time, in the table's order (before the fused test)."""
    if not np.all(np.isfinite(power)):
        return "non_finite"
    if power.shape != pmax.shape:
        return "shape"
    if np.any(power < 0) or np.any(power > pmax * (1 + tolerance)):
        return "budget"
    return None


@pytest.mark.parametrize("pmax", [np.array([1.0, 0.5, 0.25]), np.array([1.0, np.inf, 2.0])])
def test_the_fused_power_test_names_the_same_rule_as_the_rules_one_by_one(pmax):
    state = InterferenceState(np.eye(K), 1e-3, pmax)
    tol = 1e-6
    edge = pmax * (1 + tol)  # exactly at the bound: admitted
    above = np.nextafter(edge, np.inf)
    cases = [pmax, edge, above, np.zeros(K), np.full(K, -0.0), np.array([-1e-300, 0.0, 0.0]),
             np.array([np.nan, 0.0, 0.0]), np.array([0.0, np.inf, 0.0]),
             np.array([0.0, -np.inf, 0.0]), np.array([np.inf, 0.0, 0.0]), np.ones(2),
             np.array([np.nan, 0.0]), np.ones((1, K))]
    rng = np.random.default_rng(3)
    cases += [pmax * rng.uniform(-0.01, 1.01, K) for _ in range(200)]
    for power in cases:
        admitted = admit_power(PowerAllocation(power), state, tol)
        rule = admitted.rule if not isinstance(admitted, PowerAllocation) else None
        assert rule == _rules_one_by_one(power, pmax, tol), power
