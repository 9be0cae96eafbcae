"""The fronthaul-aware rate cap (EGAT's output layer) and the policy's invariants."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core.cellfree_physics import ap_power_w, feasible, rates
from rrm.core.types import CellFreeState
from rrm.models.cellfree.batch import CellFreeBatch
from rrm.models.cellfree.egat_policy import EgatPolicy
from rrm.models.cellfree.evaluate import OBJECTIVE
from rrm.models.cellfree.rate_cap import RateCapConfig, cap_rates
from tests.models.cellfree.conftest import cellfree_state


def _random_answer(batch: CellFreeBatch, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random beamformers at full per-AP power and a random association."""
    rng = np.random.default_rng(seed)
    n, b, k, m = batch.shape
    x = (rng.random((n, b, k)) < 0.6).astype(np.int8)
    v = (rng.standard_normal((n, b, k, m)) + 1j * rng.standard_normal((n, b, k, m))) * x[..., None]
    power = (abs(v) ** 2).sum((-2, -1))
    v *= np.sqrt(np.divide(batch.pmax_w, power, out=np.zeros_like(power),
                           where=power > 0))[..., None, None]
    return v, x


def _feasible(batch: CellFreeBatch, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return feasible(batch.h, v, x, batch.noise_w, batch.pmax_w, batch.cap * batch.bandwidth_hz,
                    batch.bandwidth_hz)


def test_one_ap_one_ue_is_capped_to_the_fronthaul_exactly() -> None:
    # no interference: one round sets r = (1 - slack) C / W in closed form
    h = np.array([[[[1e-4, 2e-4j]]]])  # [n=1, B=1, K=1, M=2]
    state = CellFreeState(h=h, noise_w=1e-12, pmax_w=1.0, fronthaul_bps=20e6, bandwidth_hz=10e6)
    batch = CellFreeBatch.of(state)
    v = np.array([[[[1.0, 0.0]]]], dtype=complex)
    x = np.ones((1, 1, 1))
    assert rates(h, v, x, 1e-12)[0, 0] > 2.0  # overloaded before
    cfg = RateCapConfig()
    v2, ok = cap_rates(batch, v, x, cfg)
    assert ok.all()
    assert rates(h, v2, x, 1e-12)[0, 0] == pytest.approx(2.0 * (1 - cfg.slack), rel=1e-12)


@pytest.mark.parametrize("seed, mbps", [(0, 30.0), (1, 10.0), (2, 20.0)])
def test_cap_only_lowers_powers_and_ends_feasible(seed: int, mbps: float) -> None:
    batch = CellFreeBatch.of(cellfree_state(64, seed, num_aps=5, num_ues=4, fronthaul_mbps=mbps))
    v, x = _random_answer(batch, seed)
    v2, ok = cap_rates(batch, v, x)
    assert np.all(ap_power_w(v2) <= ap_power_w(v) * (1 + 1e-12))  # per-AP power still holds
    assert np.all(abs(v2) <= abs(v) * (1 + 1e-12))  # streams only scaled down
    np.testing.assert_array_equal(ok, _feasible(batch, v2, x))
    before = _feasible(batch, v, x)
    assert ok.all() and not before.all()  # random answers overload; capped ones fit
    np.testing.assert_array_equal(v2[before], v[before])  # feasible instances untouched


@pytest.mark.parametrize("b, k, mbps", [(8, 4, 40.0), (10, 4, 60.0), (8, 7, 90.0)])
def test_egat_answers_meet_power_and_fronthaul_by_construction(
        b: int, k: int, mbps: float) -> None:
    state = cellfree_state(32, b + k, num_aps=b, num_ues=k, fronthaul_mbps=mbps)
    batch = CellFreeBatch.of(state)
    raw = EgatPolicy(rate_cap=False).decide(state, OBJECTIVE)
    assert np.all(ap_power_w(raw.v) <= batch.pmax_w * (1 + 1e-9))
    capped = EgatPolicy().decide(state, OBJECTIVE)
    assert np.all(ap_power_w(capped.v) <= batch.pmax_w * (1 + 1e-9))
    ok = _feasible(batch, np.asarray(capped.v), np.asarray(capped.x))
    assert ok.all()  # by construction
