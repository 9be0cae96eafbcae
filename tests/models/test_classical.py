"""full-reuse and the exhaustive oracle: closed forms, brute force, refusals."""

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.classical import InterferenceBatch
from rrm.models.policy import make_policy
from tests.models.instances import rayleigh_gains, utility, wide_range_gains


def test_full_reuse_transmits_every_budget_in_the_state_shape():
    gains = np.ones((3, 4, 4))
    policy = make_policy("full-reuse")
    pmax = np.array([1.0, 0.5, 0.2, 0.1])
    np.testing.assert_array_equal(
        policy.decide(InterferenceState(gains, 1.0, pmax), get_objective("sum")).power_w,
        np.broadcast_to(pmax, (3, 4)))
    single = policy.decide(InterferenceState(gains[0], 1.0, 0.3), get_objective("pf")).power_w
    np.testing.assert_array_equal(single, np.full(4, 0.3))


def test_oracle_refuses_more_than_four_links_in_one_line():
    with pytest.raises(InvalidInput, match="K=5") as err:
        make_policy("oracle").decide(InterferenceState(np.ones((5, 5)), 1.0, 1.0),
                                     get_objective("sum"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("objective", ["sum", "pf", "qos"])
def test_oracle_gives_a_single_link_its_full_budget(objective):
    power = make_policy("oracle").decide(InterferenceState(np.array([[0.3]]), 0.1, 0.7),
                                         get_objective(objective)).power_w
    np.testing.assert_allclose(power, [0.7])


def test_oracle_matches_binary_power_control_on_two_links():
    """For K = 2 the sum-rate optimum is binary: (P1, 0), (0, P2) or (P1, P2)
    (Gjendemsjoe et al., 2008)."""
    rng = np.random.default_rng(3)
    gains = np.concatenate([rayleigh_gains(rng, 20, 2), wide_range_gains(rng, 20, 2)])
    pmax = np.array([1.0, 0.6])
    power = make_policy("oracle").decide(InterferenceState(gains, 0.05, pmax),
                                         get_objective("sum")).power_w
    binary = np.stack([np.broadcast_to(pmax * np.array(b), (40, 2))
                       for b in ((1, 0), (0, 1), (1, 1))])
    best_binary = physics.rates(gains, binary, 0.05).sum(-1).max(axis=0)
    np.testing.assert_allclose(physics.rates(gains, power, 0.05).sum(-1), best_binary,
                               rtol=1e-9)


@pytest.mark.parametrize("objective", ["sum", "pf", "qos"])
def test_oracle_beats_every_sampled_allocation_on_three_links(objective):
    rng = np.random.default_rng(4)
    gains = np.concatenate([rayleigh_gains(rng, 3, 3), wide_range_gains(rng, 3, 3)])
    obj = get_objective(objective)
    oracle = utility(obj, gains, make_policy("oracle").decide(
        InterferenceState(gains, 0.05, 1.0), obj).power_w, 0.05)
    # 20,000 random points plus the 8 corners of the box, per instance
    corners = np.array(np.meshgrid(*[[0.0, 1.0]] * 3, indexing="ij")).reshape(3, -1).T
    samples = np.concatenate([rng.uniform(size=(20_000, 3)), corners])
    sampled = utility(obj, gains[:, None], samples[None], 0.05).max(axis=1)
    assert np.all(oracle >= sampled - 1e-9 * np.abs(sampled))


def test_oracle_respects_budgets_and_batches_like_single_instances():
    rng = np.random.default_rng(5)
    gains = wide_range_gains(rng, 3, 3)
    pmax = np.array([1.0, 0.1, 0.5])
    policy, obj = make_policy("oracle", levels=21), get_objective("pf")
    batch = policy.decide(InterferenceState(gains, 0.01, pmax), obj).power_w
    assert batch.shape == (3, 3) and np.all(batch >= 0) and np.all(batch <= pmax)
    for i in range(3):
        np.testing.assert_array_equal(
            policy.decide(InterferenceState(gains[i], 0.01, pmax), obj).power_w, batch[i])


def test_batch_rates_agree_with_the_physics_module():
    rng = np.random.default_rng(6)
    gains = wide_range_gains(rng, 4, 5)
    power = rng.uniform(size=(4, 7, 5))
    noise = rng.uniform(0.01, 0.1, size=(4, 5))
    batch = InterferenceBatch.of(InterferenceState(gains, noise, 1.0))
    np.testing.assert_allclose(batch.rates(power),
                               physics.rates(gains[:, None], power, noise[:, None]),
                               rtol=1e-10)
