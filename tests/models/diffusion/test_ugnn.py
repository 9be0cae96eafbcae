"""U-GNN denoiser: shapes, permutation equivariance, pooling and unpooling."""

import numpy as np
import pytest
import torch

from rrm.models.diffusion import ugnn
from rrm.models.diffusion.features import model_inputs, node_state, to_power, to_signal
from rrm.models.diffusion.ugnn import (
    UGNN,
    GraphShift,
    TopKPool,
    UGNNConfig,
    coarsen_gso,
    fitted_gso,
    sparse_gso,
    unpool,
)
from rrm.sim.scenarios.ergodic import ErgodicConfig, generate_ergodic

CFG = ErgodicConfig(num_pairs=12, side_m=1100.0)


@pytest.fixture(scope="module")
def inputs():
    large = generate_ergodic(CFG, 3, np.random.default_rng(0)).large_scale
    gso, u = model_inputs(large, CFG.pmax_w / CFG.noise_w, 0.6)
    g = torch.Generator().manual_seed(0)
    return large, gso, u, torch.randn(3, 12, generator=g), torch.tensor([0, 17, 499])


def small_model(seed=0):
    torch.manual_seed(seed)
    return UGNN(UGNNConfig(channels=16, embed_dim=32)).eval()


def test_output_is_one_noise_value_per_node(inputs):
    _, gso, u, x, k = inputs
    assert small_model()(x, k, gso, u).shape == (3, 12)


def test_denoiser_is_permutation_equivariant(inputs):
    _, gso, u, x, k = inputs
    model = small_model()
    perm = torch.from_numpy(np.random.default_rng(3).permutation(12))
    out = model(x, k, gso, u)
    out_p = model(x[:, perm], k, gso[:, perm][:, :, perm], u[:, perm])
    assert torch.allclose(out_p, out[:, perm], atol=1e-5)


def test_paper_sized_model_is_permutation_equivariant_at_another_size():
    large = generate_ergodic(ErgodicConfig(num_pairs=30, side_m=1700.0), 2,
                             np.random.default_rng(1)).large_scale
    gso, u = model_inputs(large, 6e10, 0.5)
    torch.manual_seed(0)
    model = UGNN().eval()  # sec. 3.1 sizes
    x, k = torch.randn(2, 30), torch.tensor([3, 250])
    perm = torch.from_numpy(np.random.default_rng(4).permutation(30))
    out = model(x, k, gso, u)
    assert torch.allclose(model(x[:, perm], k, gso[:, perm][:, :, perm], u[:, perm]),
                          out[:, perm], atol=1e-5)


def test_output_depends_on_step_node_state_and_graph(inputs):
    _, gso, u, x, k = inputs
    model = small_model()
    out = model(x, k, gso, u)
    assert not torch.allclose(model(x, k + 1, gso, u), out)
    u2 = u.clone()
    u2[..., 2] = 0.8
    assert not torch.allclose(model(x, k, gso, u2), out)
    assert not torch.allclose(model(x, k, torch.zeros_like(gso), u), out)


def test_pooling_keeps_half_the_nodes_ranked_by_score_and_unpooling_scatters_back():
    pool = TopKPool(4, 0.5)
    x = torch.randn(2, 7, 4)
    idx, kept = pool(x)
    assert idx.shape == (2, 4) and kept.shape == (2, 4, 4)
    score = torch.tanh(x @ pool.projection / pool.projection.norm())
    assert torch.equal(idx, torch.topk(score, 4, dim=1).indices)
    back = unpool(kept, idx, 7)
    for b in range(2):
        others = sorted(set(range(7)) - set(idx[b].tolist()))
        assert torch.equal(back[b, idx[b]], kept[b]) and torch.all(back[b, others] == 0)


@pytest.mark.parametrize("fill", [1.1, -1.0])  # sparse all the way / dense all the way
def test_coarse_gso_is_the_two_hop_submatrix_of_each_graph(monkeypatch, fill):
    monkeypatch.setattr(ugnn, "DENSE_FILL", fill)
    s = torch.rand(2, 5, 5) * (torch.rand(2, 5, 5) < 0.5)
    idx = torch.tensor([[4, 0, 2], [1, 3, 0]])
    coarse = coarsen_gso(sparse_gso(s), idx)
    assert (coarse.layout == torch.strided) == (fill < 0)
    blocks = coarse if fill < 0 else torch.stack(
        [coarse.to_dense()[3 * b:3 * b + 3, 3 * b:3 * b + 3] for b in range(2)])
    for b in range(2):
        s2 = s[b] @ s[b]
        assert torch.allclose(blocks[b], s2[idx[b]][:, idx[b]])
    if fill > 1:
        assert torch.all(coarse.to_dense()[:3, 3:] == 0)


def test_a_full_gso_runs_dense_and_a_sparse_one_sparse():
    full, sparse = torch.rand(2, 6, 6), torch.eye(40).expand(2, 40, 40)
    assert fitted_gso(full, 2).layout == torch.strided
    assert fitted_gso(sparse, 2).layout == torch.sparse_csr
    assert torch.equal(fitted_gso(sparse_gso(full), 2), full)


def test_sparse_shift_is_the_dense_product():
    s = torch.rand(3, 6, 6) * (torch.rand(3, 6, 6) < 0.4)
    x = torch.randn(3, 6, 5)
    shifted = GraphShift()(x.reshape(18, 5), sparse_gso(s)).reshape(3, 6, 5)
    assert torch.allclose(shifted, torch.bmm(s, x), atol=1e-6)


def test_sparse_and_dense_gso_inputs_give_the_same_noise(inputs):
    _, gso, u, x, k = inputs
    model = small_model()
    assert torch.equal(model(x, k, sparse_gso(gso), u), model(x, k, gso, u))


def test_node_state_and_signal_scaling(inputs):
    large = inputs[0]
    u = node_state(large, 2.0, 0.7)
    k = 5
    direct, interference = large[0, k, k], large[0, k].sum() - large[0, k, k]
    assert u[0, k] == pytest.approx([np.log1p(2 * direct) / 10, np.log1p(2 * interference) / 10,
                                     0.7])
    p = torch.tensor([0.0, 0.25, 1.0])
    assert torch.allclose(to_power(to_signal(p)), p)
    assert torch.equal(to_power(torch.tensor([-3.0, 3.0])), torch.tensor([0.0, 1.0]))
