"""Noise schedule closed forms (alpha_bar, posterior) and the DDIM sampler."""

import math

import pytest
import torch

from rrm.core.errors import ConfigError
from rrm.models.diffusion.schedule import DdimConfig, DdimSampler, NoiseSchedule, ScheduleConfig


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(ScheduleConfig())


def test_linear_betas_span_the_papers_range(schedule):
    assert schedule.betas.shape == (500,)
    assert schedule.betas[0].item() == pytest.approx(1e-4)
    assert schedule.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(schedule.betas.diff(), torch.full((499,), (0.02 - 1e-4) / 499), atol=1e-9)


def test_alpha_bar_is_the_running_product_of_alphas(schedule):
    for k in (0, 1, 10, 250, 499):
        direct = math.prod(1.0 - (1e-4 + (0.02 - 1e-4) * s / 499) for s in range(k + 1))
        assert schedule.alpha_bar[k].item() == pytest.approx(direct, rel=1e-5)
    assert schedule.alpha_bar[-1].item() < 0.01  # x_K is practically pure noise (exp(-5))


def test_add_noise_matches_eq_3(schedule):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    k = torch.tensor([0, 3, 100, 499])
    xk = schedule.add_noise(x0, eps, k)
    for i in range(4):
        ab = schedule.alpha_bar[k[i]]
        assert torch.allclose(xk[i], ab.sqrt() * x0[i] + (1 - ab).sqrt() * eps[i])
    assert torch.allclose(schedule.predict_original(xk, eps, k), x0, atol=1e-3)


def test_posterior_matches_the_gaussian_product_computed_directly(schedule):
    # q(x_{k-1}|x_k,x_0) is proportional to q(x_k|x_{k-1}) q(x_{k-1}|x_0): complete the square
    g = torch.Generator().manual_seed(1)
    x0, xk = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    k = torch.tensor([1, 50, 400])
    post = schedule.posterior(xk, x0, k)
    for i in range(3):
        kk = int(k[i])
        a, ab_prev = 1 - schedule.betas[kk].double(), schedule.alpha_bar[kk - 1].double()
        prec = a / (1 - a) + 1 / (1 - ab_prev)  # precision of the product
        mean = (a.sqrt() * xk[i].double() / (1 - a) + ab_prev.sqrt() * x0[i].double()
                / (1 - ab_prev)) / prec
        assert post.variance[i].item() == pytest.approx(1 / prec.item(), rel=1e-4)
        assert torch.allclose(post.mean[i].double(), mean, atol=1e-4)


def test_posterior_at_step_zero_is_the_clean_sample(schedule):
    x0, xk = torch.randn(2, 3), torch.randn(2, 3)
    post = schedule.posterior(xk, x0, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(post.mean, x0, atol=1e-6) and torch.all(post.variance == 0)


def _linear_denoiser(x, k):
    return 0.5 * x + 0.01 * k.float()[:, None]


def test_ddim_with_zero_eta_is_deterministic_given_x_K(schedule):
    sampler = DdimSampler(schedule, DdimConfig(num_inference_steps=100, eta=0.0))
    a = sampler.sample(_linear_denoiser, (3, 6), torch.Generator().manual_seed(5))
    b = sampler.sample(_linear_denoiser, (3, 6), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # and the step itself adds no noise: passing noise changes nothing at eta = 0
    x, eps = torch.randn(3, 6), torch.randn(3, 6)
    s1 = sampler.step(eps, 250, x, None).prev_sample
    s2 = sampler.step(eps, 250, x, torch.randn(3, 6)).prev_sample
    assert torch.equal(s1, s2)


def test_ddim_with_eta_is_stochastic(schedule):
    sampler = DdimSampler(schedule, DdimConfig(eta=0.2))
    x, eps = torch.randn(3, 6), torch.randn(3, 6)
    s1 = sampler.step(eps, 250, x, torch.randn(3, 6)).prev_sample
    s2 = sampler.step(eps, 250, x, torch.randn(3, 6)).prev_sample
    assert not torch.allclose(s1, s2)


def test_ddim_visits_100_evenly_spaced_steps_down_to_zero(schedule):
    sampler = DdimSampler(schedule, DdimConfig())
    assert len(sampler.timesteps) == 100 and sampler.timesteps[0] == 495
    assert sampler.timesteps[-1] == 0


def test_ddim_recovers_x0_with_an_oracle_denoiser(schedule):
    # a denoiser that knows x0 predicts eps exactly; DDIM (eta = 0) must land on x0
    x0 = torch.linspace(-0.9, 0.9, 8)[None].repeat(2, 1)

    def oracle(x, k):
        ab = schedule.alpha_bar[k][:, None]
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    sampler = DdimSampler(schedule, DdimConfig(eta=0.0))
    out = sampler.sample(oracle, (2, 8), torch.Generator().manual_seed(0))
    assert torch.allclose(out, x0, atol=1e-4)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError):
        ScheduleConfig(beta_start=0.03, beta_end=0.02)
    with pytest.raises(ConfigError):
        DdimSampler(NoiseSchedule(ScheduleConfig(num_steps=50)), DdimConfig(100))
