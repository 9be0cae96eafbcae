"""Cell-free physics (EGAT eqs. 1-3) against closed forms and brute force; numpy vs torch."""

import numpy as np
import pytest
import torch

from rrm.core import cellfree_physics as cp
from rrm.core import cellfree_physics_torch as cpt


def cn(rng, *shape):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / np.sqrt(2)


def brute_force_sinr(h, v, x, noise):
    """Eq. (2) by explicit loops over UEs, streams and APs (one snapshot)."""
    num_aps, num_ues, _ = h.shape
    noise = np.broadcast_to(noise, (num_ues,))

    def amplitude(k, j):  # UE j's stream at UE k
        return sum(x[b, j] * np.vdot(h[b, k], v[b, j]) for b in range(num_aps))

    out = []
    for k in range(num_ues):
        signal = abs(amplitude(k, k)) ** 2
        interference = sum(abs(amplitude(k, j)) ** 2 for j in range(num_ues) if j != k)
        out.append(signal / (interference + noise[k]))
    return np.array(out)


def test_single_ap_ue_antenna_sinr_is_the_closed_form():
    h, v = np.array([[[2 + 1j]]]), np.array([[[0.5 - 0.5j]]])
    # h^H v = (2 - 1j)(0.5 - 0.5j) = 0.5 - 1.5j, |.|^2 = 2.5; noise 0.5 -> SINR 5
    assert cp.sinr(h, v, np.ones((1, 1)), 0.5)[0] == pytest.approx(5.0)
    assert cp.rates(h, v, np.ones((1, 1)), 0.5)[0] == pytest.approx(np.log2(6.0))


def test_channel_is_conjugated_not_the_beamformer():
    # h^H v with h = [1j], v = [1j]: conj(1j) * 1j = 1 (real); h^T v would be -1.
    a = cp.effective_gains(np.array([[[1j]]]), np.array([[[1j]]]), np.ones((1, 1)))
    assert a[0, 0] == pytest.approx(1.0 + 0j)


def test_two_ap_two_ue_two_antenna_sinr_matches_brute_force():
    rng = np.random.default_rng(0)
    h, v = cn(rng, 2, 2, 2), cn(rng, 2, 2, 2)
    x = np.array([[1, 0], [1, 1]])
    np.testing.assert_allclose(cp.sinr(h, v, x, 0.3), brute_force_sinr(h, v, x, 0.3),
                               rtol=1e-12)


def test_batched_sinr_matches_brute_force_per_sample_with_per_ue_noise():
    rng = np.random.default_rng(1)
    h, v = cn(rng, 4, 3, 5, 2), cn(rng, 4, 3, 5, 2)
    x = (rng.random((4, 3, 5)) > 0.4).astype(np.int8)
    noise = rng.uniform(0.1, 1.0, size=(4, 5))
    expected = np.stack([brute_force_sinr(h[i], v[i], x[i], noise[i]) for i in range(4)])
    np.testing.assert_allclose(cp.sinr(h, v, x, noise), expected, rtol=1e-12)


def test_unassociated_link_is_neither_signal_nor_interference():
    rng = np.random.default_rng(2)
    h, v = cn(rng, 2, 2, 2), cn(rng, 2, 2, 2)
    x = np.ones((2, 2))
    x[1, 1] = 0
    other = v.copy()
    other[1, 1] = 100.0 * cn(rng, 2)  # whatever AP 1 holds for UE 1 must not matter
    np.testing.assert_allclose(cp.sinr(h, v, x, 0.1), cp.sinr(h, other, x, 0.1), rtol=1e-12)
    zeroed = v.copy()
    zeroed[1, 1] = 0
    np.testing.assert_allclose(cp.sinr(h, v, x, 0.1), cp.sinr(h, zeroed, np.ones((2, 2)), 0.1),
                               rtol=1e-12)


def test_unserved_stream_leaves_only_noise_at_the_other_ue():
    rng = np.random.default_rng(3)
    h, v = cn(rng, 1, 2, 2), cn(rng, 1, 2, 2)
    s = cp.sinr(h, v, np.array([[1, 0]]), 0.2)
    assert s[0] == pytest.approx(abs(np.vdot(h[0, 0], v[0, 0])) ** 2 / 0.2)
    assert s[1] == 0.0


def test_sinr_is_invariant_to_a_common_phase_per_stream():
    rng = np.random.default_rng(4)
    h, v = cn(rng, 3, 4, 2), cn(rng, 3, 4, 2)
    x = np.ones((3, 4))
    phase = np.exp(1j * rng.uniform(0, 2 * np.pi, size=4))[None, :, None]
    np.testing.assert_allclose(cp.sinr(h, v * phase, x, 0.1), cp.sinr(h, v, x, 0.1), rtol=1e-10)


def test_relabelling_ues_permutes_the_rates():
    rng = np.random.default_rng(5)
    h, v = cn(rng, 3, 4, 2), cn(rng, 3, 4, 2)
    x = (rng.random((3, 4)) > 0.3).astype(float)
    perm = np.array([2, 0, 3, 1])
    permuted = cp.rates(h[:, perm], v[:, perm], x[:, perm], 0.1)
    np.testing.assert_allclose(permuted, cp.rates(h, v, x, 0.1)[perm], rtol=1e-12)


def test_ap_power_is_the_frobenius_norm_of_its_beamformers():
    v = np.zeros((2, 3, 2), complex)
    v[0, 0] = [1, 1j]  # 2 W
    v[0, 2] = [0, 1 - 1j]  # 2 W
    v[1, 1] = [2, 0]  # 4 W
    np.testing.assert_allclose(cp.ap_power_w(v), [4.0, 4.0])
    np.testing.assert_array_equal(cp.power_feasible(v, np.array([4.0, 3.0])), [True, False])


def test_fronthaul_load_counts_the_rates_of_served_ues_times_bandwidth():
    x = np.array([[1, 0, 1], [0, 1, 1]])
    rate = np.array([1.0, 2.0, 3.0])  # bit/s/Hz
    np.testing.assert_allclose(cp.fronthaul_load_bps(x, rate, 10e6), [40e6, 50e6])
    np.testing.assert_array_equal(cp.fronthaul_feasible(x, rate, 45e6, 10e6), [True, False])


def test_feasible_is_true_only_when_every_ap_meets_both_budgets():
    rng = np.random.default_rng(6)
    h, v = cn(rng, 3, 2, 3, 2), 0.1 * cn(rng, 3, 2, 3, 2)
    x = np.ones((3, 2, 3))
    load = cp.fronthaul_load_bps(x, cp.rates(h, v, x, 0.01), 1e6)  # (3, 2)
    cap = load.max(axis=-1) * np.array([1.0, 0.9, 2.0])  # sample 1 overloads its busiest AP
    pmax = cp.ap_power_w(v).max(axis=-1) * np.array([2.0, 2.0, 0.5])  # sample 2 over power
    ok = cp.feasible(h, v, x, 0.01, pmax[:, None], cap[:, None], 1e6)
    np.testing.assert_array_equal(ok, [True, False, False])


def random_batch(seed, shape=(6, 3, 4, 2)):
    rng = np.random.default_rng(seed)
    h, v = cn(rng, *shape), cn(rng, *shape)
    x = (rng.random(shape[:-1]) > 0.5).astype(np.float64)
    return h, v, x


def test_numpy_and_torch_agree_in_float64():
    h, v, x = random_batch(7)
    ht, vt, xt = map(torch.from_numpy, (h, v, x))
    np.testing.assert_allclose(cpt.effective_gains(ht, vt, xt).numpy(),
                               cp.effective_gains(h, v, x), rtol=1e-9)
    r = cp.rates(h, v, x, 0.2)
    np.testing.assert_allclose(cpt.rates(ht, vt, xt, 0.2).numpy(), r, rtol=1e-9)
    np.testing.assert_allclose(cpt.ap_power_w(vt).numpy(), cp.ap_power_w(v), rtol=1e-9)
    np.testing.assert_allclose(cpt.fronthaul_load_bps(xt, torch.from_numpy(r), 1e7).numpy(),
                               cp.fronthaul_load_bps(x, r, 1e7), rtol=1e-9)
    cap, pmax = 2e7, 6.0
    np.testing.assert_array_equal(cpt.feasible(ht, vt, xt, 0.2, pmax, cap, 1e7).numpy(),
                                  cp.feasible(h, v, x, 0.2, pmax, cap, 1e7))


def test_torch_rates_have_finite_gradients_in_v_and_relaxed_x():
    h, v, x = random_batch(8)
    vt = torch.from_numpy(v).requires_grad_(True)
    xt = torch.from_numpy(x).requires_grad_(True)
    cpt.rates(torch.from_numpy(h), vt, xt, 0.2).sum().backward()
    for grad in (vt.grad, xt.grad):
        assert grad is not None and torch.isfinite(torch.view_as_real(grad) if grad.is_complex()
                                                   else grad).all()
        assert grad.abs().max() > 0


def test_torch_rate_gradient_matches_finite_differences():
    h, v, x = random_batch(9, shape=(2, 2, 2))
    ht, xt = torch.from_numpy(h), torch.from_numpy(x)
    vt = torch.from_numpy(v).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: cpt.rates(ht, w, xt, 0.3).sum(), (vt,))
