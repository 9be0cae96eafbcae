"""FC-ZF, PC-WMMSE, the heuristic fronthaul scaling and the MISO physics they rest on."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core.cellfree_physics import ap_power_w, feasible, rates, sinr
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation
from rrm.models.cellfree.batch import CellFreeBatch, normalise_ap_power, weighted_sum_rate
from rrm.models.cellfree.fczf import fc_zf
from rrm.models.cellfree.fronthaul import scale_allocation, scale_to_fronthaul
from rrm.models.cellfree.pcwmmse import pc_wmmse
from rrm.models.cellfree.wmmse import wmmse_beamforming
from rrm.models.policy import make_policy
from tests.models.cellfree.conftest import cellfree_state


def _feasible(batch: CellFreeBatch, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return feasible(batch.h, v, x, batch.noise_w, batch.pmax_w, batch.cap * batch.bandwidth_hz,
                    batch.bandwidth_hz)


def test_miso_sinr_matches_hand_computation() -> None:
    # B=2 APs, K=2 UEs, M=2. a_kj = sum_b x_bj h_bk^H v_bj.
    h = np.zeros((2, 2, 2), dtype=complex)
    h[0, 0] = [1, 1j]
    h[1, 0] = [2, 0]
    h[0, 1] = [0, 1]
    h[1, 1] = [1, 1]
    v = np.zeros((2, 2, 2), dtype=complex)
    v[0, 0] = [1, 0]
    v[1, 0] = [0, 1]
    v[0, 1] = [0, 1j]
    v[1, 1] = [1, 0]
    x = np.ones((2, 2))
    # UE0: a00 = conj[1,1j].[1,0] + conj[2,0].[0,1] = 1; a01 = conj[1,1j].[0,1j] + 2*1 = 1 + 2 = 3
    # UE1: a11 = conj[0,1].[0,1j] + conj[1,1].[1,0] = 1j + 1; a10 = 0 + conj[1,1].[0,1] = 1
    noise = 0.5
    expected = np.array([1 / (9 + noise), 2 / (1 + noise)])
    np.testing.assert_allclose(sinr(h, v, x, noise), expected)
    # cutting AP1 from UE0 removes v_10 from every UE's signal: a00 = 1, a10 = 0
    x[1, 0] = 0
    np.testing.assert_allclose(sinr(h, v, x, noise), [1 / (9 + noise), 2 / noise])


def test_per_ap_power_normalisation_is_exact() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 4, 3, 2)) + 1j * rng.normal(size=(5, 4, 3, 2))
    v[0, 1] = 0  # an AP that serves nobody stays off
    pmax = rng.uniform(0.5, 2.0, size=(5, 4))
    out = normalise_ap_power(v, pmax)
    expected = pmax.copy()
    expected[0, 1] = 0.0
    np.testing.assert_allclose(ap_power_w(out), expected, rtol=1e-13)


def test_fc_zf_cancels_interference_and_meets_budgets(small_batch: CellFreeBatch) -> None:
    v = fc_zf(small_batch, fronthaul=False)
    x = np.ones(v.shape[:-1])
    power = ap_power_w(v)
    assert np.all(power <= small_batch.pmax_w * (1 + 1e-9))
    np.testing.assert_allclose(power.max(axis=-1), small_batch.pmax_w.max(axis=-1), rtol=1e-9)
    a = np.einsum("nbkm,nbjm->nkj", small_batch.h.conj(), v)
    off = a - np.einsum("nkk->nk", a)[..., None] * np.eye(a.shape[-1])
    assert np.max(np.abs(off)) < 1e-9 * np.max(np.abs(a))
    limited = fc_zf(small_batch)
    assert np.all(_feasible(small_batch, limited, x))
    load = rates(small_batch.h, limited, x, small_batch.noise_w).sum(-1)
    at_cap = np.isclose(load, small_batch.cap.min(-1), rtol=1e-6)
    at_power = np.isclose(ap_power_w(limited).max(-1), small_batch.pmax_w.max(-1), rtol=1e-9)
    assert np.all(at_cap | at_power) and at_cap.any()  # one budget binds


@pytest.mark.parametrize("seed", range(12))
def test_heuristic_scaling_always_ends_feasible(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, k = int(rng.integers(2, 9)), int(rng.integers(1, 7))
    state = cellfree_state(8, seed, num_aps=b, num_ues=k,
                           fronthaul_mbps=float(rng.uniform(5.0, 90.0)))
    batch = CellFreeBatch.of(state)
    v = 3.0 * (rng.normal(size=batch.h.shape) + 1j * rng.normal(size=batch.h.shape))
    x = rng.integers(0, 2, size=batch.h.shape[:-1])
    v2, x2, rounds = scale_to_fronthaul(batch, v, x)
    assert np.all(_feasible(batch, v2, x2))
    assert np.all(x2 <= x) and rounds <= b * k * 5
    assert np.all(v2[x2 == 0] == 0)


def test_scaling_leaves_a_feasible_allocation_unchanged(small_batch: CellFreeBatch) -> None:
    v, x, _ = pc_wmmse(small_batch)
    v2, x2, rounds = scale_to_fronthaul(small_batch, v.copy(), x)
    assert rounds == 0 and np.array_equal(x, x2)
    np.testing.assert_allclose(v, v2, rtol=1e-12, atol=0)


def test_wmmse_is_monotone_and_within_power(small_batch: CellFreeBatch) -> None:
    x = np.ones(small_batch.h.shape[:-1])
    wsr = [weighted_sum_rate(small_batch, wmmse_beamforming(small_batch, x, t), x)
           for t in (0, 1, 2, 4, 8)]
    assert np.all(np.diff(np.stack(wsr), axis=0) >= -1e-9)
    v = wmmse_beamforming(small_batch, x, 8)
    assert np.all(ap_power_w(v) <= small_batch.pmax_w * (1 + 1e-9))


def test_pc_wmmse_ends_feasible_and_drops_weakest(small_batch: CellFreeBatch) -> None:
    v, x, _ = pc_wmmse(small_batch)
    assert np.all(_feasible(small_batch, v, x))
    assert (x == 0).any()  # 30 Mbit/s forces disconnections
    assert np.all(v[x == 0] == 0)


def test_policies_are_registered_and_feasible() -> None:
    state = cellfree_state(3, 7, num_aps=4, num_ues=2)
    for name in ("fc-zf", "pc-wmmse"):
        alloc = make_policy(name).decide(state, Objective("sum"))
        assert isinstance(alloc, BeamformingAllocation) and alloc.v.shape == state.h.shape
        batch = CellFreeBatch.of(state)
        assert np.all(_feasible(batch, alloc.v, alloc.x))
    single = cellfree_state(1, 8, num_aps=3, num_ues=2)
    one = type(single)(single.h[0], single.noise_w, single.pmax_w, single.fronthaul_bps,
                       single.bandwidth_hz)
    alloc = make_policy("pc-wmmse").decide(one, Objective("sum"))
    assert alloc.v.shape == one.h.shape and alloc.x.shape == one.h.shape[:-1]
    scaled = scale_allocation(one, BeamformingAllocation(alloc.v * 10, np.ones_like(alloc.x)))
    assert feasible(one.h, scaled.v, scaled.x, one.noise_w, one.pmax_w, one.fronthaul_bps,
                    one.bandwidth_hz)
