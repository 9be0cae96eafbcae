"""Primal-dual expert: dual dynamics (eq. 10) and an ergodically feasible time-shared policy."""

import numpy as np
import pytest
import torch

from rrm.core import physics
from rrm.core.errors import ConfigError, InvalidInput
from rrm.models.diffusion.expert import DualDescent, DualStep, ExpertConfig, run_expert

F_MIN = 1.0


def tiny_network():
    """Links 0 and 1 interfere more strongly than their own signal: they must take turns."""
    g = np.full((4, 4), 0.01)
    np.fill_diagonal(g, 10.0)
    g[0, 1], g[1, 0] = 20.0, 15.0
    return g


def ergodic_rates(g, shares, slots=6000, seed=0):
    """Time-shared rates ``[N]``: each slot draws a row of ``shares`` and fresh fading."""
    rng = np.random.default_rng(seed)
    pick = shares[rng.integers(0, len(shares), slots)]
    return physics.rates(g * rng.exponential(size=(slots, *g.shape)), pick, 1.0).mean(0)


def test_duals_rise_under_violation_and_fall_to_zero_under_slack():
    descent = DualDescent(0.2, 0.5)
    state = DualStep(torch.zeros(1, 2), torch.zeros(1, 2))
    history = []
    for _ in range(10):  # user 0 violated by 0.3, user 1 has slack 0.3
        state = descent.step(state, torch.tensor([[-0.3, 0.3]]))
        history.append(state.lam[0].clone())
    lam0 = torch.stack(history)[:, 0]
    assert torch.all(lam0.diff() > 0) and torch.all(torch.stack(history)[:, 1] == 0)
    for _ in range(20):  # now both have slack: the multiplier decays to exactly zero
        state = descent.step(state, torch.tensor([[0.3, 0.3]]))
    assert torch.all(state.lam == 0)


def test_expert_multipliers_stay_zero_without_constraints_and_grow_on_impossible_ones():
    g = tiny_network()[None]
    cfg = ExpertConfig(iterations=200, window=100, samples=10, fading_samples=8)
    free = run_expert(g, 1.0, 1.0, 0.0, cfg)
    assert np.all(free.duals == 0) and np.all(free.violated == 0)
    hard = run_expert(g, 1.0, 1.0, 50.0, cfg)  # 50 bit/s/Hz: never reachable
    assert np.all(np.diff(hard.duals[:, 0], axis=0) > 0) and np.all(hard.violated == 1)


@pytest.fixture(scope="module")
def expert_samples():
    cfg = ExpertConfig(iterations=3000, window=1000, samples=200, fading_samples=32)
    return run_expert(tiny_network()[None], 1.0, 1.0, F_MIN, cfg, seed=0).samples[0]


def test_time_shared_expert_meets_f_min_where_deterministic_baselines_do_not(expert_samples):
    g = tiny_network()
    shared = ergodic_rates(g, expert_samples)
    assert np.all(shared >= 0.95 * F_MIN)  # near-feasible in the ergodic sense, eq. (12)
    full = ergodic_rates(g, np.ones((1, 4)))
    average = ergodic_rates(g, expert_samples.mean(0, keepdims=True))
    assert full[:2].min() < 0.9 * F_MIN and average[:2].min() < 0.9 * F_MIN


def test_expert_policy_is_stochastic_between_the_conflicting_links(expert_samples):
    # the pair alternates: each of links 0 and 1 is nearly off in some samples and on in others
    for link in (0, 1):
        assert expert_samples[:, link].min() < 0.1 and expert_samples[:, link].max() > 0.9
    assert np.all(expert_samples >= 0) and np.all(expert_samples <= 1)


def test_expert_is_seeded():
    g = tiny_network()[None]
    cfg = ExpertConfig(iterations=60, window=20, samples=5)
    a, b = run_expert(g, 1.0, 1.0, 1.0, cfg, seed=3), run_expert(g, 1.0, 1.0, 1.0, cfg, seed=3)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.duals, b.duals)


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError):
        ExpertConfig(samples=300, window=200)
    with pytest.raises(InvalidInput):
        run_expert(np.ones((3, 4)), 1.0, 1.0, 0.5)


def test_explicit_cpu_device_is_the_default_program():
    g = np.abs(np.random.default_rng(0).normal(size=(2, 4, 4))) + np.eye(4) * 5
    cfg = ExpertConfig(iterations=12, window=6, samples=3)
    a = run_expert(g, 1.0, 1.0, 0.3, cfg, seed=2)
    b = run_expert(g, 1.0, 1.0, 0.3, cfg, seed=2, device="cpu")
    np.testing.assert_array_equal(a.samples, b.samples)


def test_unusable_device_is_one_clear_error():
    with pytest.raises(InvalidInput, match="not usable"):
        run_expert(np.ones((1, 3, 3)), 1.0, 1.0, 0.3, ExpertConfig(3, 3, 3), device="nodevice")


def test_margin_is_the_same_program_as_a_raised_f_min():
    g = np.abs(np.random.default_rng(1).normal(size=(2, 4, 4))) + np.eye(4) * 5
    with_margin = run_expert(g, 1.0, 1.0, 0.3, ExpertConfig(12, 6, 3, margin=0.25), seed=3)
    raised = run_expert(g, 1.0, 1.0, 0.55, ExpertConfig(12, 6, 3), seed=3)
    np.testing.assert_allclose(with_margin.samples, raised.samples, rtol=1e-6)
    with pytest.raises(ConfigError, match="margin"):
        ExpertConfig(margin=-0.1)
