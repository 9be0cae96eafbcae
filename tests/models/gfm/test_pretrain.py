"""The fast forms of the hybrid pre-training losses equal the published formulas.

The references below are the paper's arithmetic written plainly: each
layer's bias projector as ``proj(edge)`` on ``(B, K, K, 2)``, the edge
decoder as ``net([z_k, z_j, z_k * z_j])`` on every masked edge, the MSE over
masked edges and ``2 - 2 cos`` against the EMA teacher (sec. III-B). The
batched, fused forms in :mod:`rrm.models.gfm.backbone` and
:mod:`rrm.models.gfm.pretrain` must give the same losses and gradients.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.features import GraphBatch, graph_batch
from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig, sample_edge_mask

CFG = BackboneConfig(layers=2, dim=16, heads=2, bias_hidden=8, edge_value_dim=3)


def gains(b: int = 4, k: int = 9, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    g = rng.exponential(size=(b, k, k)) * 10 ** rng.uniform(-12, -8, size=(b, k, k))
    g[:, np.arange(k), np.arange(k)] *= 100
    return torch.from_numpy(g)


def reference_backbone(bb: GFMBackbone, g: GraphBatch, masked: torch.Tensor | None
                       ) -> torch.Tensor:
    """eq. (4)-(5) with each layer's projector applied edge by edge: ``(B, K, d)``."""
    edge = bb.edge_input(g, masked)  # (B, K, K, 2)
    b, k, h, e = edge.shape[0], edge.shape[1], bb.cfg.heads, bb.cfg.edge_value_dim
    z = bb.node_enc(g.node)
    for layer, proj in zip(bb.layers, bb.bias_proj, strict=True):
        out = proj(edge)  # (B, K, K, H (1 + e))
        att_mod, x = layer.attention, layer.norm1(z)
        q, key, v = att_mod.qkv(x).view(b, k, 3, h, -1).permute(2, 0, 3, 1, 4)  # (B, H, K, hd)
        att = (q @ key.transpose(-1, -2) / att_mod.head_dim**0.5
               + out[..., :h].permute(0, 3, 1, 2)).softmax(-1)  # (B, H, K, K)
        y = att_mod.out((att @ v).transpose(1, 2).reshape(b, k, -1))
        if e:
            value = out[..., h:].reshape(b, k, k, h, e).permute(0, 3, 1, 2, 4)  # (B,H,K,K,e)
            agg = (att.unsqueeze(-1) * value).sum(dim=3)  # (B, H, K, e): sum_j A_kj phi_V
            y = y + att_mod.edge_out(agg.transpose(1, 2).reshape(b, k, -1))
        z = z + y
        z = z + layer.ffn(layer.norm2(z))
    return bb.norm(z)


def reference_losses(model: HybridPretrainer, g: GraphBatch, masked: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_edge, L_cl)`` as published, from the reference backbone."""
    z = reference_backbone(model.backbone, g, masked)
    b, k, j = masked.nonzero().unbind(1)
    pred = model.decoder.net(torch.cat([z[b, k], z[b, j], z[b, k] * z[b, j]], -1))
    loss_edge = F.mse_loss(pred, g.edge[b, k, j])
    with torch.no_grad():
        target = model.teacher_projector(reference_backbone(model.teacher_backbone, g, None))
    online = model.predictor(model.projector(z))
    return loss_edge, (2 - 2 * F.cosine_similarity(online, target, dim=-1)).mean()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)


def test_batched_bias_projector_equals_each_layers_projector():
    bb = GFMBackbone(CFG)
    edge = torch.randn(3, 6, 6, 2)
    for proj, (bias, value) in zip(bb.bias_proj, bb.edge_terms(edge), strict=True):
        out = proj(edge)  # (B, K, K, H (1 + e))
        torch.testing.assert_close(bias, out[..., :2].permute(0, 3, 1, 2))
        assert value is not None  # phi_V(e_kj) = W_v u_kj + b_v, from the unexpanded form
        u = value.hidden.reshape(3, 6, 6, CFG.bias_hidden)  # (B, K, K, b_h)
        dense = torch.einsum("bkjm,hem->bkjhe", u, value.weight) + value.bias
        torch.testing.assert_close(dense, out[..., 2:].reshape(3, 6, 6, 2, 3))


@pytest.mark.parametrize("edge_value_dim", [3, 0])
def test_hybrid_losses_and_gradients_equal_the_published_formulas(edge_value_dim):
    cfg = BackboneConfig(layers=2, dim=16, heads=2, bias_hidden=8, edge_value_dim=edge_value_dim)
    model = HybridPretrainer(cfg, PretrainConfig())
    with torch.no_grad():  # a teacher unlike its student, as after some EMA steps
        for p in model.teacher_backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = graph_batch(gains(), 1e-13, 0.01)
    masked = sample_edge_mask(g.known, 0.3, torch.Generator().manual_seed(1))
    params = [p for n, p in model.named_parameters() if not n.startswith("teacher_")]

    def losses_and_grads(fn) -> tuple[torch.Tensor, list[torch.Tensor]]:
        loss_edge, loss_cl = fn(g, masked)
        total = loss_edge + 0.1 * loss_cl
        grads = torch.autograd.grad(total, params, allow_unused=True)
        return torch.stack([loss_edge, loss_cl]).detach(), [
            torch.zeros_like(p) if gr is None else gr for p, gr in zip(params, grads, strict=True)]

    fast, fast_grads = losses_and_grads(model.losses)
    ref, ref_grads = losses_and_grads(lambda g, m: reference_losses(model, g, m))
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_fused_masked_edge_loss_equals_the_unfused_form_across_chunks(monkeypatch):
    from rrm.models.gfm import edge_loss
    from rrm.models.gfm.pretrain import EdgeDecoder, masked_edge_loss

    monkeypatch.setattr(edge_loss, "CHUNK", 7)  # several chunks and a ragged last one
    dec, z = EdgeDecoder(8), torch.randn(3, 6, 8, requires_grad=True)
    target = torch.randn(3, 6, 6, 2)
    masked = sample_edge_mask(torch.ones(3, 6, 6, dtype=torch.bool), 0.4,
                              torch.Generator().manual_seed(2))
    edges = masked.nonzero()
    ref = F.mse_loss(dec(z, edges), target[edges[:, 0], edges[:, 1], edges[:, 2]])
    fused = masked_edge_loss(dec, z, target, masked)
    torch.testing.assert_close(fused, ref)
    inputs = [z, *dec.parameters()]
    for a, b in zip(torch.autograd.grad(3.0 * fused, inputs),
                    torch.autograd.grad(3.0 * ref, inputs), strict=True):
        torch.testing.assert_close(a, b)


def test_gradients_accumulated_over_slices_equal_the_whole_batch():
    model = HybridPretrainer(CFG, PretrainConfig())
    g = graph_batch(gains(b=5), 1e-13, 0.01)
    masked = sample_edge_mask(g.known, 0.3, torch.Generator().manual_seed(3))
    params = [p for n, p in model.named_parameters() if not n.startswith("teacher_")]
    whole = model(g, masked)
    (whole[0] + 0.1 * whole[1]).backward()
    expected = [p.grad.clone() for p in params]
    model.zero_grad(set_to_none=True)
    sliced = model.accumulate_gradients(g, masked, edges_per_pass=2 * 9 * 9)  # 2, 2, 1
    torch.testing.assert_close(sliced, whole.detach())
    for p, e in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-6)
