"""EGAT: shapes, permutation equivariance, post-processing, the Bernoulli log-probability."""

from __future__ import annotations

import math

import pytest
import torch

from rrm.core.cellfree_physics_torch import ap_power_w
from rrm.models.cellfree.egat import Egat, EgatConfig, bernoulli_log_prob, features, postprocess


def _inputs(n: int, b: int, k: int, m: int = 2, seed: int = 0
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    h = torch.complex(torch.randn(n, b, k, m, generator=gen, dtype=torch.float64),
                      torch.randn(n, b, k, m, generator=gen, dtype=torch.float64)) * 1e-5
    noise = torch.full((n, k), 3e-12, dtype=torch.float64)
    pmax = torch.rand(n, b, generator=gen, dtype=torch.float64) + 0.5
    cap = torch.full((n, b), 6.0, dtype=torch.float64)
    w = torch.rand(n, k, generator=gen, dtype=torch.float64) + 0.5
    return features(h, noise, pmax, cap, w)


@pytest.mark.parametrize("attention, power", [(True, False), (False, False), (True, True)])
def test_equivariant_to_ap_and_ue_permutations(attention: bool, power: bool) -> None:
    torch.manual_seed(0)
    model = Egat(EgatConfig(width=16, heads=2, layers=2, attention=attention,
                            power_control=power)).eval()
    ap, ue, edge = _inputs(3, 5, 4)
    pb, pk = torch.randperm(5), torch.randperm(4)
    with torch.no_grad():
        v, pi, sh = model(ap, ue, edge)
        v2, pi2, sh2 = model(ap[:, pb], ue[:, pk], edge[:, pb][:, :, pk])
    torch.testing.assert_close(v[:, pb][:, :, pk], v2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pi[:, pb][:, :, pk], pi2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sh[:, pb], sh2, rtol=1e-4, atol=1e-5)
    assert v.shape == (3, 5, 4, 2) and v.is_complex() and pi.shape == (3, 5, 4)
    assert torch.all((pi > 0) & (pi < 1))


def test_runs_on_other_sizes_and_a_single_ue() -> None:
    model = Egat(EgatConfig(width=8, heads=2, layers=1)).eval()
    for b, k in [(7, 6), (3, 1), (1, 3)]:
        with torch.no_grad():
            v, pi, _ = model(*_inputs(2, b, k))
        assert v.shape == (2, b, k, 2) and torch.isfinite(torch.view_as_real(v)).all()


def test_postprocess_masks_and_normalises_exactly() -> None:
    gen = torch.Generator().manual_seed(1)
    v = torch.complex(torch.randn(4, 3, 5, 2, generator=gen, dtype=torch.float64),
                      torch.randn(4, 3, 5, 2, generator=gen, dtype=torch.float64))
    x = (torch.rand(4, 3, 5, generator=gen) > 0.5).double()
    x[0, 2] = 0.0  # AP 2 of instance 0 serves nobody
    pmax = torch.rand(4, 3, generator=gen, dtype=torch.float64) + 0.1
    out = postprocess(v, x, pmax)
    expected = torch.where(x.sum(-1) > 0, pmax, torch.zeros_like(pmax))
    torch.testing.assert_close(ap_power_w(out), expected, rtol=1e-12, atol=0.0)
    assert torch.all(out[x == 0] == 0)
    share = torch.rand(4, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(ap_power_w(postprocess(v, x, pmax, share)), expected * share,
                               rtol=1e-12, atol=0.0)


def test_log_prob_matches_bernoulli_formula() -> None:
    gen = torch.Generator().manual_seed(2)
    pi = torch.rand(6, 3, 4, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    x = torch.bernoulli(pi, generator=gen)
    by_hand = torch.zeros(6, dtype=torch.float64)
    for i in range(6):
        total = 1.0
        for b in range(3):
            for k in range(4):
                p = float(pi[i, b, k])
                total *= p if x[i, b, k] == 1 else 1.0 - p  # eq. (31)
        by_hand[i] = math.log(total)
    torch.testing.assert_close(bernoulli_log_prob(x, pi), by_hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bernoulli_log_prob(x, pi),
                               torch.distributions.Bernoulli(probs=pi).log_prob(x).sum((-2, -1)))
