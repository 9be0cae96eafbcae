"""The local-search polish: brute force on tiny networks, invariants, the policy hook."""

import itertools

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective, get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm import experiments as ex
from rrm.models.gfm.polish import LEVELS, LocalSearch, move_utilities, polish_state
from rrm.models.policy import make_policy
from rrm.models.registry import policy_names

WEIGHTS = np.random.default_rng(9).uniform(0.2, 2.0, size=(6, 4))  # per-snapshot wsr weights
OBJECTIVES = [get_objective("sum"), get_objective("pf"), get_objective("qos"),
              get_objective("wsr", weights=WEIGHTS)]
IDS = ["sum", "pf", "qos", "wsr"]


def _network(seed: int, n: int = 6, k: int = 4) -> tuple[np.ndarray, ...]:
    """``n`` random snapshots of ``k`` links: gains ``[n, K, K]`` (strong diagonal), noise,
    Pmax and a random start ``[n, K]`` W."""
    rng = np.random.default_rng(seed)
    gains = rng.exponential(size=(n, k, k)) * (1.0 + 4.0 * np.eye(k))
    noise = rng.uniform(0.05, 0.5, size=(n, k))
    pmax = rng.uniform(0.5, 2.0, size=(n, k))
    return gains, noise, pmax, rng.uniform(size=(n, k)) * pmax


def _utility(gains: np.ndarray, power: np.ndarray, noise: np.ndarray, obj: Objective) -> float:
    return float(obj.utility(physics.rates(gains, power, noise)))


def _one(obj: Objective, row: int) -> Objective:
    return obj if obj.weights is None else obj.with_weights(obj.weights[row])


def _naive_polish(gains: np.ndarray, noise: np.ndarray, pmax: np.ndarray, power: np.ndarray,
                  obj: Objective, search: LocalSearch) -> np.ndarray:
    """One snapshot, a Python loop over moves: greedy best improvement, first best on a tie."""
    power = power.copy()
    utility = _utility(gains, power, noise, obj)
    for _ in range(search.max_moves):
        best, value = (0, 0), -np.inf
        for (lv, level), j in itertools.product(enumerate(search.levels), range(len(power))):
            trial = power.copy()
            trial[j] = level * pmax[j]
            v = _utility(gains, trial, noise, obj)
            if v > value:
                best, value = (lv, j), v
        if not value > utility + 1e-9 * max(abs(utility), 1.0):
            break
        power[best[1]] = search.levels[best[0]] * pmax[best[1]]
        utility = value
    return power


@pytest.mark.parametrize("obj", OBJECTIVES, ids=IDS)
def test_every_move_is_scored_as_a_full_rate_computation_would(obj):
    gains, noise, pmax, power = _network(0)
    levels = (0.0, 0.4, 1.0)
    values = move_utilities(gains, noise, pmax, power, obj, levels)  # (L*K, n)
    for (lv, level), j, b in itertools.product(enumerate(levels), range(4), range(6)):
        trial = power[b].copy()
        trial[j] = level * pmax[b, j]
        expected = _utility(gains[b], trial, noise[b], _one(obj, b))
        assert values[lv * 4 + j, b] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("obj", OBJECTIVES, ids=IDS)
def test_the_polish_equals_a_naive_loop_over_moves(obj):
    gains, noise, pmax, power = _network(1)
    search = LocalSearch(max_moves=3)
    out = search.polish(gains, noise, pmax, power, obj)
    for b in range(6):
        naive = _naive_polish(gains[b], noise[b], pmax[b], power[b], _one(obj, b), search)
        np.testing.assert_allclose(out[b], naive, rtol=0, atol=1e-15)


@pytest.mark.parametrize("obj", OBJECTIVES, ids=IDS)
def test_uncapped_the_answer_is_a_local_optimum_of_the_move_set(obj):
    gains, noise, pmax, power = _network(2)
    search = LocalSearch(max_moves=100)
    out = search.polish(gains, noise, pmax, power, obj)
    for b in range(6):
        here = _utility(gains[b], out[b], noise[b], _one(obj, b))
        for level, j in itertools.product(search.levels, range(4)):
            trial = out[b].copy()
            trial[j] = level * pmax[b, j]
            assert _utility(gains[b], trial, noise[b], _one(obj, b)) <= here + 1e-9 * max(
                abs(here), 1.0)


@pytest.mark.parametrize("obj", OBJECTIVES, ids=IDS)
@pytest.mark.parametrize("seed", range(5))
def test_the_utility_never_decreases(obj, seed):
    gains, noise, pmax, power = _network(10 + seed)
    for search in (LocalSearch(max_moves=1), LocalSearch(), LocalSearch((0.0, 1.0), 50)):
        out = search.polish(gains, noise, pmax, power, obj)
        before = obj.utility(physics.rates(gains, power, noise))
        after = obj.utility(physics.rates(gains, out, noise))
        assert np.all(after >= before)
        assert np.all((out >= 0) & (out <= pmax))


def test_on_and_off_levels_reach_the_brute_force_optimum_from_a_grid_point_next_to_it():
    gains, noise, pmax, _ = _network(3, n=1, k=3)
    obj = get_objective("sum")
    grid = np.array(list(itertools.product((0.0, 1.0), repeat=3))) * pmax  # (8, K)
    values = obj.utility(physics.rates(gains, grid, noise))
    best = grid[np.argmax(values)]
    out = LocalSearch((0.0, 1.0), 100).polish(gains, noise, pmax, best[None], obj)
    np.testing.assert_array_equal(out[0], best)  # the optimum is kept as it is


def test_a_batch_is_polished_as_its_snapshots_one_by_one_with_masked_csi():
    gains, noise, pmax, power = _network(4)
    mask = np.random.default_rng(4).random(gains.shape) < 0.6
    obj = get_objective("wsr", weights=WEIGHTS)
    state = InterferenceState(gains, noise, pmax, mask)
    batch = polish_state(LocalSearch(), state, obj, power)
    for b in range(6):
        one = InterferenceState(gains[b], noise[b], pmax[b], mask[b])
        np.testing.assert_array_equal(polish_state(LocalSearch(), one, _one(obj, b), power[b]),
                                      batch[b])


def test_zero_moves_is_the_identity_and_a_bad_config_is_refused():
    gains, noise, pmax, power = _network(5)
    out = LocalSearch(max_moves=0).polish(gains, noise, pmax, power, get_objective("sum"))
    np.testing.assert_array_equal(out, power)
    with pytest.raises(InvalidInput):
        LocalSearch(levels=(0.0, 1.5))
    with pytest.raises(InvalidInput):
        LocalSearch(max_moves=-1)
    assert LEVELS[0] == 0.0 and LEVELS[-1] == 1.0


@pytest.fixture(scope="module")
def d18():
    return ex.test_state("D18", 4)


@pytest.mark.parametrize("name", ["sum", "pf", "qos"])
def test_gfm_polish_is_never_below_gfm_and_decides_a_batch_as_one_by_one(d18, name):
    obj = get_objective(name)
    assert "gfm-polish" in policy_names()
    polished = make_policy("gfm-polish")
    plain = make_policy("gfm").decide(d18, obj).power_w
    batch = polished.decide(d18, obj).power_w
    assert np.all(obj.utility(physics.rates(d18.gains, batch, d18.noise_w))
                  >= obj.utility(physics.rates(d18.gains, plain, d18.noise_w)))
    singles = [InterferenceState(g, d18.noise_w, d18.pmax_w) for g in d18.gains]
    per_slot = polished.decide_batch(singles, [obj] * len(singles))
    for b, alloc in enumerate(per_slot):
        np.testing.assert_allclose(alloc.power_w, batch[b], rtol=0, atol=1e-6 * d18.pmax_w)
