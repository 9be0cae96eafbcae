"""SINR and rates against hand-computed cases; numpy and torch twins agree."""

import numpy as np
import pytest
import torch

from rrm.core import physics, physics_torch
from rrm.core.errors import InvalidInput


def test_two_link_rates_match_hand_computation():
    # rx0: signal 4*1, interference 1*2, noise 1 -> SINR 4/3
    # rx1: signal 3*2, interference 0.5*1, noise 1 -> SINR 6/1.5 = 4
    gains = np.array([[4.0, 1.0], [0.5, 3.0]])
    power = np.array([1.0, 2.0])
    sinr = physics.sinr(gains, power, 1.0)
    np.testing.assert_allclose(sinr, [4.0 / 3.0, 4.0])
    np.testing.assert_allclose(physics.rates(gains, power, 1.0), np.log2([7.0 / 3.0, 5.0]))


def test_single_link_rate_is_log2_one_plus_snr():
    gains = np.array([[[2.0]], [[0.5]]])
    r = physics.rates(gains, np.array([[3.0], [4.0]]), 0.5)
    np.testing.assert_allclose(r, np.log2(1 + np.array([[12.0], [4.0]])))


def test_zero_power_link_has_zero_rate_and_causes_no_interference():
    rng = np.random.default_rng(0)
    gains = rng.exponential(size=(3, 3))
    p = np.array([1.0, 0.0, 1.0])
    r = physics.rates(gains, p, 0.1)
    assert r[1] == 0.0
    # link 1 silent: links 0 and 2 see only each other
    expected0 = np.log2(1 + gains[0, 0] / (gains[0, 2] + 0.1))
    np.testing.assert_allclose(r[0], expected0)


def test_per_link_noise_broadcasts_over_batch():
    rng = np.random.default_rng(1)
    gains = rng.exponential(size=(5, 4, 4))
    p = rng.uniform(size=(5, 4))
    noise = np.array([0.1, 0.2, 0.3, 0.4])
    r = physics.rates(gains, p, noise)
    for i in range(5):  # brute force per sample and link
        for k in range(4):
            interf = sum(gains[i, k, j] * p[i, j] for j in range(4) if j != k)
            sinr = gains[i, k, k] * p[i, k] / (interf + noise[k])
            assert r[i, k] == pytest.approx(np.log2(1 + sinr))


def test_numpy_and_torch_physics_agree():
    rng = np.random.default_rng(2)
    gains = rng.exponential(size=(8, 6, 6)) * 10 ** rng.uniform(-3, 3, size=(8, 6, 6))
    p = rng.uniform(0, 0.01, size=(8, 6))
    noise = 1e-4
    r_np = physics.rates(gains, p, noise)
    r_t = physics_torch.rates(torch.from_numpy(gains), torch.from_numpy(p), noise)
    np.testing.assert_allclose(r_t.numpy(), r_np, rtol=1e-12)
    np.testing.assert_allclose(
        physics_torch.interference_w(torch.from_numpy(gains), torch.from_numpy(p)).numpy(),
        physics.interference_w(gains, p),
        rtol=1e-12,
    )


def test_torch_rates_are_differentiable_with_correct_gradient():
    rng = np.random.default_rng(3)
    gains = torch.from_numpy(rng.exponential(size=(2, 3, 3)))
    p = torch.from_numpy(rng.uniform(0.1, 1.0, size=(2, 3))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: physics_torch.rates(gains, x, 0.3).sum(), (p,))


def test_csi_mask_hides_cross_links_but_never_the_diagonal():
    gains = np.arange(1.0, 10.0).reshape(3, 3)
    mask = np.zeros((3, 3), dtype=bool)
    seen = physics.apply_csi_mask(gains, mask)
    np.testing.assert_array_equal(seen, np.diag(np.diag(gains)))
    mask[0, 2] = True
    assert physics.apply_csi_mask(gains, mask)[0, 2] == gains[0, 2]


def test_random_csi_mask_drops_the_requested_fraction():
    mask = physics.random_csi_mask(np.random.default_rng(4), (200, 20, 20), 0.3)
    off = ~np.eye(20, dtype=bool)
    assert mask[:, np.eye(20, dtype=bool)].all()
    assert abs(1 - mask[:, off].mean() - 0.3) < 0.01


@pytest.mark.parametrize(
    "gains, reason",
    [
        (np.zeros((0, 0)), "at least one link"),
        (np.ones((2, 3)), "must be [K,K] or [n,K,K]"),
        (np.array([[1.0, np.nan], [1.0, 1.0]]), "NaN or Inf"),
        (np.array([[1.0, -1.0], [1.0, 1.0]]), "non-negative"),
        (np.array([[0.0, 1.0], [1.0, 1.0]]), "diagonal"),
        (np.ones((1, 2, 2, 2)), "must be [K,K] or [n,K,K]"),
    ],
)
def test_validation_rejects_bad_gains_with_a_reason(gains, reason):
    with pytest.raises(InvalidInput, match=reason.replace("[", r"\[").replace("]", r"\]")):
        physics.validate_interference_inputs(gains, 1.0, 1.0)


def test_validation_rejects_k_above_limit_and_bad_budgets():
    with pytest.raises(InvalidInput, match="exceeds the configured limit"):
        physics.validate_interference_inputs(np.eye(5), 1.0, 1.0, max_k=4)
    with pytest.raises(InvalidInput, match="noise_w"):
        physics.validate_interference_inputs(np.eye(2), 0.0, 1.0)
    with pytest.raises(InvalidInput, match="pmax_w"):
        physics.validate_interference_inputs(np.eye(2), 1.0, float("inf"))
    assert physics.validate_interference_inputs(np.eye(2), 1.0, 1.0).shape == (1, 2, 2)


@pytest.mark.parametrize("k", [1, 2, 7, 50, 83, 400])
def test_rates_of_several_power_vectors_equal_rates_of_each_bit_for_bit(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        gains = rng.exponential(size=(k, k)) * 10.0 ** rng.uniform(-12, -6, size=(k, k))
        powers = np.stack([rng.uniform(0, 1e-3, size=k), np.full(k, 1e-3),
                           rng.uniform(0, 1e-3, size=k) * (rng.random(k) < 0.5)])
        noise = 10.0 ** rng.uniform(-14, -11)
        many = physics.rates_of(gains, powers, noise)  # (3, K)
        for row, power in zip(many, powers, strict=True):
            assert np.array_equal(row, physics.rates(gains, power, noise))
