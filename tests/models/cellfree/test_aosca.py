"""AO-SCA (EGAT Algorithm 1): monotone objective, budgets, the registered policy."""

from __future__ import annotations

import numpy as np

from rrm.core.cellfree_physics import ap_power_w, feasible
from rrm.core.objectives import Objective
from rrm.models.cellfree.aosca import LN2, AoScaConfig, ao_sca, smooth_indicator
from rrm.models.cellfree.batch import CellFreeBatch
from rrm.models.policy import make_policy
from tests.models.cellfree.conftest import cellfree_state


def test_objective_is_non_decreasing_across_iterations() -> None:
    batch = CellFreeBatch.of(cellfree_state(3, 11, num_aps=4, num_ues=3, fronthaul_mbps=40.0))
    g = batch.h / np.sqrt(batch.noise_w)[:, None, :, None]
    for i in range(3):
        res = ao_sca(g[i], batch.weights[i], batch.cap[i] * LN2, batch.pmax_w[i],
                     AoScaConfig(max_iter=6, tol=0.0))
        hist = np.array(res.history)
        assert len(hist) == 6
        assert np.all(np.diff(hist) >= -1e-5 * np.abs(hist[:-1]) - 1e-7), hist
        assert hist[-1] > hist[0]
        assert np.all(ap_power_w(res.v) <= batch.pmax_w[i] * (1 + 1e-6))


def test_smooth_indicator_limits() -> None:
    v = np.zeros((2, 2, 2), dtype=complex)
    v[0, 0] = [1.0, 0.0]  # at sqrt(P): indicator 1
    v[1, 1] = [1e-9, 0.0]  # tiny: close to 0
    ind = smooth_indicator(v, np.ones(2), 1e-3)
    assert ind[0, 0] == 1.0 and ind[0, 1] == 0.0 and ind[1, 1] < 1e-6


def test_registered_policy_is_feasible() -> None:
    state = cellfree_state(2, 5, num_aps=3, num_ues=2, fronthaul_mbps=40.0)
    alloc = make_policy("ao-sca", max_iter=3).decide(state, Objective("sum"))
    assert np.all(feasible(state.h, alloc.v, alloc.x, state.noise_w, state.pmax_w,
                           state.fronthaul_bps, state.bandwidth_hz))
