"""Cell-free physics against brute force; the scenario's geometry and statistics."""

import numpy as np
import pytest
import torch

from sim import cellfree_physics as cp
from sim import cellfree_physics_torch as cpt
from sim.errors import ConfigError
from sim.scenarios.cellfree import (
    CellFreeConfig,
    generate_cellfree,
    three_slope_path_loss_db,
    to_state,
    torus_distance,
)

RNG = np.random.default_rng(0)


def cn(*shape):
    return (RNG.normal(size=shape) + 1j * RNG.normal(size=shape)) / np.sqrt(2)


def brute_force_sinr(h, v, x, noise):
    b_n, k_n, _ = h.shape
    out = []
    for k in range(k_n):
        def stream(j, k=k):
            return sum(x[b, j] * np.vdot(h[b, k], v[b, j]) for b in range(b_n))
        signal = abs(stream(k)) ** 2
        interference = sum(abs(stream(j)) ** 2 for j in range(k_n) if j != k)
        out.append(signal / (interference + noise))
    return np.array(out)


def test_single_ap_single_ue_single_antenna_closed_form():
    h, v = np.array([[[2 + 1j]]]), np.array([[[0.5 - 0.5j]]])
    # |conj(h) v|^2 = |(2 - 1j)(0.5 - 0.5j)|^2 = |0.5 - 1.5j|^2 = 2.5
    assert cp.sinr(h, v, np.ones((1, 1)), 0.5)[0] == pytest.approx(5.0)


def test_sinr_matches_brute_force_with_partial_association():
    h, v = cn(3, 4, 2), cn(3, 4, 2)
    x = (RNG.random((3, 4)) > 0.4).astype(float)
    np.testing.assert_allclose(cp.sinr(h, v, x, 0.1), brute_force_sinr(h, v, x, 0.1))


def test_unassociated_beamformer_is_neither_signal_nor_interference():
    h, v = cn(2, 2, 2), cn(2, 2, 2)
    x = np.ones((2, 2))
    x[1, 1] = 0
    v_zeroed = v.copy()
    v_zeroed[1, 1] = 0
    np.testing.assert_allclose(cp.sinr(h, v, x, 0.1), cp.sinr(h, v_zeroed, np.ones((2, 2)), 0.1))


def test_power_and_fronthaul_formulas():
    v = np.zeros((2, 3, 2), complex)
    v[0, 0] = [1, 1j]  # |.|^2 = 2
    v[1, 2] = [2, 0]  # 4
    np.testing.assert_allclose(cp.ap_power_w(v), [2.0, 4.0])
    x = np.array([[1, 0, 1], [0, 1, 1]])
    np.testing.assert_allclose(cp.fronthaul_load_bps(x, np.array([1.0, 2.0, 3.0]), 10.0),
                               [40.0, 50.0])


def test_numpy_and_torch_agree_and_torch_is_differentiable():
    h, v = cn(5, 3, 4, 2), cn(5, 3, 4, 2)
    x = (RNG.random((5, 3, 4)) > 0.5).astype(float)
    vt = torch.from_numpy(v).requires_grad_(True)
    r = cpt.rates(torch.from_numpy(h), vt, torch.from_numpy(x), 0.2)
    np.testing.assert_allclose(r.detach().numpy(), cp.rates(h, v, x, 0.2), rtol=1e-10)
    r.sum().backward()
    assert torch.isfinite(vt.grad.abs()).all()
    np.testing.assert_allclose(cpt.ap_power_w(torch.from_numpy(v)).numpy(), cp.ap_power_w(v))


@pytest.fixture(scope="module")
def batch():
    return generate_cellfree(CellFreeConfig(num_aps=10, num_ues=6), 400, np.random.default_rng(1))


def test_generation_is_deterministic_and_inside_the_square(batch):
    again = generate_cellfree(CellFreeConfig(num_aps=10, num_ues=6), 400,
                              np.random.default_rng(1))
    assert again.h.tobytes() == batch.h.tobytes()
    for xy in (batch.ap_xy, batch.ue_xy):
        assert np.all((xy >= 0) & (xy <= 500))
    d = torus_distance(batch.ap_xy, batch.ue_xy, 500.0)
    assert d.max() <= 250 * np.sqrt(2) + 1e-9  # wrap-around: never more than half the side


def test_path_loss_is_continuous_with_the_three_slopes():
    cfg = CellFreeConfig()
    d = np.array([5.0, 10.0, 20.0, 50.0, 100.0, 200.0])
    pl = three_slope_path_loss_db(d, cfg)
    assert pl[0] == pl[1]  # flat below d0
    assert pl[2] - pl[3] == pytest.approx(20 * np.log10(50 / 20))  # 20 dB/decade
    assert pl[4] - pl[5] == pytest.approx(35 * np.log10(2))  # 35 dB/decade
    eps = 1e-9
    assert three_slope_path_loss_db(np.array([50 - eps]), cfg)[0] == pytest.approx(
        three_slope_path_loss_db(np.array([50 + eps]), cfg)[0], abs=1e-6)


def test_shadowing_is_8_db_and_spatially_correlated(batch):
    cfg = batch.config
    d = torus_distance(batch.ap_xy, batch.ue_xy, 500.0)
    shadow = 10 * np.log10(batch.large_scale) - three_slope_path_loss_db(d, cfg)
    assert abs(shadow.std() - 8.0) < 0.4 and abs(shadow.mean()) < 0.4
    # two UEs close together see more similar shadowing than two far apart
    ue_d = torus_distance(batch.ue_xy, batch.ue_xy, 500.0)[:, 0, 1]
    diff = np.abs(shadow[:, :, 0] - shadow[:, :, 1]).mean(axis=1)
    assert diff[ue_d < 100].mean() < diff[ue_d > 250].mean()


def test_small_scale_fading_is_unit_power_rayleigh(batch):
    g = batch.h / np.sqrt(batch.large_scale)[..., None]
    assert abs(np.mean(np.abs(g) ** 2) - 1.0) < 0.02


def test_state_carries_table_i_budgets():
    state = to_state(generate_cellfree(CellFreeConfig(), 2, np.random.default_rng(0)), 0)
    assert state.h.shape == (8, 4, 2)
    assert state.pmax_w[0] == pytest.approx(1.0) and state.noise_w == pytest.approx(10 ** -11.5)
    assert state.fronthaul_bps[0] == 60e6 and state.bandwidth_hz == 1e7
    with pytest.raises(ConfigError, match="unknown cellfree parameter"):
        CellFreeConfig.from_overrides(aps=3)
