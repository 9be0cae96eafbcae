"""The gfm-wmmse and pcgnn policies: polishing never hurts; the shipped baseline answers."""

import numpy as np
import pytest

from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.classical import InterferenceBatch
from rrm.models.gfm import experiments as ex
from rrm.models.policy import make_policy


@pytest.fixture(scope="module")
def state():
    return ex.test_state("D16", 6)


@pytest.mark.parametrize("objective", ["sum", "pf", "qos"])
def test_refinement_never_lowers_the_utility_of_any_snapshot(state, objective):
    obj = get_objective(objective)
    batch = InterferenceBatch.of(state, obj)
    plain = batch.utility(obj, make_policy("gfm").decide(state, obj).power_w)
    polished = batch.utility(obj, make_policy("gfm-wmmse").decide(state, obj).power_w)
    assert np.all(polished >= plain - 1e-9 * np.abs(plain))
    assert polished.mean() > plain.mean()  # the iterations do move the answer


def test_single_snapshot_and_batch_agree(state):
    obj = get_objective("sum")
    policy = make_policy("gfm-wmmse", refine_iterations=3)
    batch = policy.decide(state, obj).power_w
    one = policy.decide(InterferenceState(state.gains[2], state.noise_w, state.pmax_w), obj)
    assert one.power_w.shape == (20,)
    np.testing.assert_allclose(one.power_w, batch[2], rtol=1e-6, atol=1e-12)
    assert np.all((batch >= 0) & (batch <= state.pmax_w + 1e-15))


def test_negative_iterations_are_refused():
    with pytest.raises(InvalidInput, match="refine_iterations must be >= 0"):
        make_policy("gfm-wmmse", refine_iterations=-1)


def test_pcgnn_policy_loads_the_shipped_baseline_and_answers_every_objective(state):
    policy = make_policy("pcgnn")
    assert policy.name == "pcgnn"
    answers = {o: policy.decide(state, get_objective(o)).power_w for o in ("sum", "qos")}
    for power in answers.values():
        assert power.shape == state.gains.shape[:2]
        assert np.all((power >= 0) & (power <= state.pmax_w + 1e-15))
    assert not np.allclose(answers["sum"], answers["qos"])  # the objective prompt matters
