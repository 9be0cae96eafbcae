"""State types normalise scalar-or-array budgets once: scalar and per-link states are the same."""

import numpy as np
import pytest

from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.core.types import CellFreeState, InterferenceState
from rrm.core.wire.codec import encode_indication
from rrm.core.wire.messages import Header, IndicationMsg

K, B, M = 4, 3, 2
GAINS = np.random.default_rng(0).exponential(size=(K, K))


def test_scalar_and_per_link_budgets_give_identical_views_wire_and_decisions():
    from rrm.models.policy import make_policy

    scalar = InterferenceState(GAINS, 1e-3, 0.5)
    per_link = InterferenceState(GAINS, np.full(K, 1e-3), np.full(K, 0.5))
    for view in ("pmax_per_link", "noise_per_link"):
        a, b = getattr(scalar, view), getattr(per_link, view)
        assert a.shape == b.shape == (K,) and a.dtype == np.float64 and not a.flags.writeable
        np.testing.assert_array_equal(a, b)
    header = Header("n0", 0, 1, 0, 1)
    assert (encode_indication(IndicationMsg(header, "d2d", scalar)).SerializeToString()
            == encode_indication(IndicationMsg(header, "d2d", per_link)).SerializeToString())
    wmmse, objective = make_policy("wmmse"), get_objective("sum")
    np.testing.assert_array_equal(wmmse.decide(scalar, objective).power_w,
                                  wmmse.decide(per_link, objective).power_w)


def test_batched_states_broadcast_over_the_sample_axis():
    batch = np.stack([GAINS, 2 * GAINS])
    state = InterferenceState(batch, np.array([1e-3, 2e-3])[:, None], 0.5)
    assert state.pmax_per_link.shape == state.noise_per_link.shape == (2, K)
    np.testing.assert_array_equal(state.noise_per_link[1], np.full(K, 2e-3))


def test_cell_free_budgets_are_per_ap_and_noise_per_ue():
    h = np.ones((5, B, K, M), complex)
    scalar = CellFreeState(h, 1e-3, 1.0, 1e6, 2e7)
    per_ap = CellFreeState(h, 1e-3, np.ones(B), np.full(B, 1e6), 2e7)
    np.testing.assert_array_equal(scalar.pmax_per_ap, per_ap.pmax_per_ap)
    np.testing.assert_array_equal(scalar.fronthaul_per_ap, per_ap.fronthaul_per_ap)
    assert scalar.pmax_per_ap.shape == (5, B) and scalar.noise_per_ue.shape == (5, K)
    assert scalar.num_links == K


def test_a_budget_that_does_not_fit_the_links_is_one_typed_line():
    with pytest.raises(InvalidInput, match=r"pmax_w must be a scalar or broadcast to \[4\]"):
        _ = InterferenceState(GAINS, 1e-3, np.ones(3)).pmax_per_link
