"""Slot fading: Exp(1) marginals, lag-1 correlation rho, block and frozen limits, Jakes."""

import numpy as np
import pytest
from scipy.special import j0

from rrm.core.errors import ConfigError, InvalidInput
from rrm.sim.fading import (
    FadingProcess,
    SlotChannel,
    complex_normal,
    doppler_hz,
    jakes_rho,
    slot_gains,
)


def amplitudes(rho, slots=21, links=20_000, seed=0):
    f = FadingProcess(rho)
    f.reset(np.random.default_rng(seed), (links,))
    amps = [f.amplitude]
    for _ in range(slots - 1):
        f.step()
        amps.append(f.amplitude)
    return np.stack(amps)  # (T, links)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, -0.4])
def test_every_slot_is_exp1_and_lag1_amplitude_correlation_is_rho(rho):
    a = amplitudes(rho)
    power = np.abs(a) ** 2
    assert np.all(np.abs(power.mean(axis=1) - 1.0) < 0.04)  # mean |h|^2 = 1 at every slot
    assert abs(np.mean(power > 1.0) - np.exp(-1.0)) < 0.005  # P(X > 1) = e^-1 for Exp(1)
    corr = np.mean(a[1:] * np.conj(a[:-1]))
    assert abs(corr.real - rho) < 0.01 and abs(corr.imag) < 0.01


def test_rho_zero_gives_independent_slots():
    power = np.abs(amplitudes(0.0)) ** 2
    assert abs(np.corrcoef(power[1:].ravel(), power[:-1].ravel())[0, 1]) < 0.01


def test_rho_one_freezes_the_channel():
    f = FadingProcess(1.0)
    first = f.reset(np.random.default_rng(1), (4, 4))
    for _ in range(3):
        np.testing.assert_array_equal(f.step(), first)


def test_same_seed_same_bytes():
    a, b = amplitudes(0.7, 5, 100, seed=3), amplitudes(0.7, 5, 100, seed=3)
    assert a.tobytes() == b.tobytes() and a.tobytes() != amplitudes(0.7, 5, 100, 4).tobytes()


def test_jakes_rho_from_doppler():
    assert jakes_rho(0.0, 0.05) == 1.0
    assert jakes_rho(10.0, 0.05) == pytest.approx(-0.3042421776, abs=1e-9)  # J0(pi)
    assert doppler_hz(1.0, 2.4e9) == pytest.approx(8.0055, abs=1e-4)  # v f_c / c
    f = FadingProcess.from_doppler(8.0, 0.05)
    assert f.rho == pytest.approx(j0(2 * np.pi * 8.0 * 0.05))


def test_bad_use_is_refused():
    with pytest.raises(ConfigError, match=r"\[-1, 1\]"):
        FadingProcess(1.5)
    with pytest.raises(ConfigError):
        FadingProcess(float("nan"))
    with pytest.raises(RuntimeError, match="reset"):
        FadingProcess(0.5).step()
    with pytest.raises(InvalidInput):
        SlotChannel(np.ones((3, 4)), FadingProcess())


def test_slot_channel_scales_large_scale_gains_by_the_fading():
    large = np.random.default_rng(0).uniform(1e-12, 1e-8, (6, 6))
    ch = SlotChannel(large, FadingProcess(0.3))
    g0 = ch.reset(np.random.default_rng(5))
    np.testing.assert_allclose(g0 / large, np.abs(ch.fading.amplitude) ** 2)
    g1 = ch.step()
    assert g1.shape == (6, 6) and not np.array_equal(g0, g1)


def test_slot_gains_is_the_slot_channel_run_at_once():
    large = np.random.default_rng(0).uniform(1e-12, 1e-8, (2, 5, 5))
    episode = slot_gains(large, np.random.default_rng(9), 4, rho=0.6)  # (T, 2, 5, 5)
    ch = SlotChannel(large, FadingProcess(0.6))
    manual = [ch.reset(np.random.default_rng(9))] + [ch.step() for _ in range(3)]
    assert episode.shape == (4, 2, 5, 5) and episode.tobytes() == np.stack(manual).tobytes()


def test_complex_normal_is_the_textbook_formula_byte_for_byte():
    drawn = complex_normal(np.random.default_rng(4), (3, 7))
    rng = np.random.default_rng(4)
    formula = (rng.normal(size=(3, 7)) + 1j * rng.normal(size=(3, 7))) / np.sqrt(2.0)
    assert drawn.tobytes() == formula.tobytes()


def test_block_fading_steps_are_the_ar1_formula_byte_for_byte():
    fast, rng = FadingProcess(0.0), np.random.default_rng(6)
    fast.reset(rng, (4, 4))
    ref_rng = np.random.default_rng(6)
    complex_normal(ref_rng, (4, 4))
    for _ in range(3):
        step = fast.step()
        w = complex_normal(ref_rng, (4, 4))
        assert step.tobytes() == (np.abs(0.0 * w + 1.0 * w) ** 2).tobytes()
