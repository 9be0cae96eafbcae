"""Run-time rate feedback on the f_min input (extension): the controller and the rounds."""

import numpy as np
import pytest

from rrm.core.errors import InvalidInput
from rrm.models.diffusion.check import draw_networks
from rrm.models.diffusion.evaluate import cumulative_rates
from rrm.models.diffusion.feedback import (
    FeedbackConfig,
    RateFeedback,
    feedback_rates,
    round_slots,
)
from rrm.models.diffusion.model import load_diffusion
from rrm.models.diffusion.schedule import DdimConfig


def test_users_below_f_min_get_a_higher_input_clipped_to_the_trained_range():
    control = RateFeedback(np.full((1, 3), 0.6), FeedbackConfig(step=1.0))
    out = control.step(np.array([[0.5, 0.1, 0.9]]))  # shortfalls 0.1, 0.5, -0.3
    np.testing.assert_allclose(out.dual, [[0.1, 0.5, 0.0]])
    np.testing.assert_allclose(out.conditioning, [[0.7, 0.8, 0.6]])  # 1.1 clipped to 0.8
    assert out.below == pytest.approx(2 / 3)


def test_users_above_f_min_drift_back_to_their_true_input():
    control = RateFeedback(np.full((1, 1), 0.6), FeedbackConfig(step=1.0))
    control.step(np.array([[0.4]]))  # lambda 0.2
    out = control.step(np.array([[0.7]]))  # 0.1 above: lambda 0.1
    np.testing.assert_allclose(out.dual, [[0.1]])
    out = control.step(np.array([[1.0]]))  # far above: projected to 0, input f_min again
    np.testing.assert_allclose(out.dual, [[0.0]])
    np.testing.assert_allclose(out.conditioning, [[0.6]])


def test_round_slots_cover_the_slots():
    assert round_slots(10, 3) == [4, 3, 3]
    with pytest.raises(InvalidInput):
        round_slots(2, 3)


def test_config_rejects_bad_settings():
    with pytest.raises(InvalidInput):
        FeedbackConfig(rounds=0)
    with pytest.raises(InvalidInput):
        FeedbackConfig(low=0.8, high=0.4)


@pytest.fixture(scope="module")
def tiny():
    model, _ = load_diffusion()
    return model.with_ddim(DdimConfig(3, 0.2)), draw_networks(5, 2, seed=1)


def test_one_round_is_the_plain_time_sharing(tiny):
    model, nets = tiny
    fmin = np.full(2, 0.6)
    run = feedback_rates(model, nets.large_scale, nets.noise_w, nets.pmax_w, fmin, 3, 8,
                         FeedbackConfig(rounds=1), seed=4)
    shares = model.sample(nets.large_scale, nets.noise_w, nets.pmax_w, fmin, 3, 4)
    plain = cumulative_rates(nets.large_scale, shares, nets.noise_w, nets.pmax_w, 8,
                             np.random.default_rng([4, 1]))[-1]
    np.testing.assert_allclose(run.rates, plain)
    assert run.steps == []


class _Recording:
    """Wraps a model and records the f_min input of every draw."""

    def __init__(self, model):
        self.model, self.inputs = model, []

    def sample(self, large, noise_w, pmax_w, f_min, num_samples, seed=None):
        self.inputs.append(np.array(f_min))
        return self.model.sample(large, noise_w, pmax_w, f_min, num_samples, seed)


def test_later_rounds_condition_on_the_controller_input(tiny):
    model, nets = tiny
    rec = _Recording(model)
    cfg = FeedbackConfig(rounds=3, step=1.0)
    run = feedback_rates(rec, nets.large_scale, nets.noise_w, nets.pmax_w, np.full(2, 0.6), 2,
                         9, cfg, seed=0)
    assert len(rec.inputs) == 3 and len(run.steps) == 2
    np.testing.assert_allclose(rec.inputs[0], 0.6)  # first round: the true f_min
    np.testing.assert_allclose(rec.inputs[2], run.steps[1].conditioning)
    assert run.rates.shape == (2, 5) and np.all(run.rates >= 0)
    assert np.all((rec.inputs[1] >= 0.6) & (rec.inputs[1] <= 0.8))
