"""Path loss closed form; Gauss-Markov fading marginals and correlation."""

import numpy as np
import pytest

from sim.fading import FadingProcess, jakes_rho
from sim.pathloss import dual_slope_path_loss_db


def test_dual_slope_path_loss_at_hand_picked_distances():
    pl = dual_slope_path_loss_db(np.array([0.2, 1.0, 10.0, 100.0, 1000.0]))
    np.testing.assert_allclose(pl, [39.0, 39.0, 59.0, 79.0, 119.0])
    below, above = dual_slope_path_loss_db(np.array([100 - 1e-9, 100 + 1e-9]))
    assert above == pytest.approx(below, abs=1e-6)  # continuous at the breakpoint


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_gauss_markov_fading_keeps_exp1_marginal_and_lag1_correlation(rho):
    f = FadingProcess(rho)
    f.reset(np.random.default_rng(0), (20000,))
    amps = [f.amplitude]
    for _ in range(20):
        f.step()
        amps.append(f.amplitude)
    a = np.stack(amps)
    assert abs(np.mean(np.abs(a) ** 2) - 1.0) < 0.01
    corr = np.mean(a[1:] * np.conj(a[:-1])).real
    assert abs(corr - rho) < 0.02


def test_rho_one_freezes_the_channel():
    f = FadingProcess(1.0)
    first = f.reset(np.random.default_rng(1), (4, 4))
    np.testing.assert_allclose(f.step(), first)


def test_jakes_rho_from_doppler():
    assert jakes_rho(0.0, 0.05) == 1.0
    assert jakes_rho(10.0, 0.05) == pytest.approx(-0.3042421776, abs=1e-9)  # J0(pi)


def test_rho_outside_unit_interval_is_refused():
    with pytest.raises(ValueError):
        FadingProcess(1.5)
