"""The gfm hot path (#18): the lean layout, float32 features and the frozen graph
compute what the straightforward eager model computes."""

import json

import numpy as np
import pytest
import torch
from torch import Tensor

from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.frozen import freeze_power_model, run_frozen
from rrm.models.gfm.head import PROMPTS, GFMPowerModel, PowerHead
from rrm.models.gfm.policy import CHECKPOINTS, GFMPolicy
from rrm.models.gfm.store import POWER_KIND, load_backbone, load_power_model

NOISE, PMAX = 4e-14, 0.01
TOL = 1e-5  # of Pmax
SHIPPED = sorted(p.name for p in CHECKPOINTS.glob("gfm-*"))


def gains(b: int, k: int, seed: int = 0) -> Tensor:
    rng = np.random.default_rng(seed)
    g = rng.exponential(size=(b, k, k)) * 10 ** rng.uniform(-13, -9, size=(b, k, k))
    g[:, np.arange(k), np.arange(k)] *= 100
    return torch.from_numpy(g)


def mask(b: int, k: int, seed: int = 1) -> Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((b, k, k)) > 0.3)


def reference_features(g: Tensor, csi_mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """The features as first written: dB in float64, then cast."""
    b, k, _ = g.shape
    inr = g * PMAX / NOISE
    db = (10.0 * torch.log10(inr.clamp_min(1e-30))).clamp(-40.0, 100.0) / 20.0
    node = torch.diagonal(db, dim1=-2, dim2=-1).unsqueeze(-1).float()
    edge = torch.stack([db, db.transpose(-1, -2)], dim=-1).float()
    eye = torch.eye(k, dtype=torch.bool).expand(b, k, k)
    known = eye | (csi_mask if csi_mask is not None else torch.ones_like(eye))
    return node, edge, (known & known.transpose(-1, -2)) | eye


def reference_backbone(bb: GFMBackbone, node: Tensor, edge: Tensor, known: Tensor) -> Tensor:
    """GFM-RA eq. (4)-(5) per layer, one bias projector call per layer, channels last."""
    edge = torch.where((~known).unsqueeze(-1), bb.mask_token, edge)
    z = bb.node_enc(node)
    b, k, h, e = edge.shape[0], edge.shape[1], bb.cfg.heads, bb.cfg.edge_value_dim
    for layer, proj in zip(bb.layers, bb.bias_proj, strict=True):
        out = proj(edge)  # (B, K, K, H (1 + e))
        att_mod, x = layer.attention, layer.norm1(z)
        q, key, v = att_mod.qkv(x).view(b, k, 3, h, -1).permute(2, 0, 3, 1, 4)
        att = (q @ key.transpose(-1, -2) / att_mod.head_dim**0.5
               + out[..., :h].permute(0, 3, 1, 2)).softmax(-1)
        y = att_mod.out((att @ v).transpose(1, 2).reshape(b, k, -1))
        if e:
            value = out[..., h:].reshape(b, k, k, h, e).permute(0, 3, 1, 2, 4)
            agg = (att.unsqueeze(-1) * value).sum(dim=3)  # (B, H, K, e)
            y = y + att_mod.edge_out(agg.transpose(1, 2).reshape(b, k, -1))
        z = z + y
        z = z + layer.ffn(layer.norm2(z))
    return bb.norm(z)


def reference_powers(model: GFMPowerModel, g: Tensor, csi_mask: Tensor | None,
                     objective: str) -> Tensor:
    node, edge, known = reference_features(g, csi_mask)
    z = reference_backbone(model.backbone, node, edge, known)
    if model.head.prompt is not None:
        z = z + model.head.prompt(torch.tensor(PROMPTS.index(objective)))
    return PMAX * torch.sigmoid(model.head.net(z).squeeze(-1)).double()


@pytest.mark.parametrize("edge_value_dim", [0, 3])
def test_lean_layout_equals_the_per_layer_reference_with_gradients(edge_value_dim: int) -> None:
    torch.manual_seed(0)
    bb = GFMBackbone(BackboneConfig(layers=2, dim=16, heads=2, bias_hidden=8,
                                    edge_value_dim=edge_value_dim))
    with torch.no_grad():
        bb.mask_token.copy_(torch.tensor([0.3, -0.2]))
    g, m = gains(3, 7), mask(3, 7)
    batch = graph_batch(g, NOISE, PMAX, m)
    lean = bb(batch)
    ref = reference_backbone(bb, batch.node, batch.edge, batch.known)
    assert torch.allclose(lean, ref, atol=1e-5)
    grad_lean = torch.autograd.grad(lean.square().sum(), bb.bias_proj[1][0].weight)[0]
    grad_ref = torch.autograd.grad(ref.square().sum(), bb.bias_proj[1][0].weight)[0]
    assert torch.allclose(grad_lean, grad_ref, rtol=1e-4, atol=1e-6)


def test_float32_features_match_float64_ones_including_clamped_extremes() -> None:
    g = gains(2, 9)
    g[0, 0, 1], g[0, 1, 0], g[1, 2, 2] = 0.0, 1e300, 1e-300  # beyond float32 both ways
    node, edge, known = reference_features(g, None)
    batch = graph_batch(g, NOISE, PMAX)
    assert batch.edge.dtype == torch.float32
    assert torch.allclose(batch.node, node, atol=1e-6)
    assert torch.allclose(batch.edge, edge, atol=1e-6)
    assert torch.equal(batch.known, known)


@pytest.mark.parametrize("checkpoint,objective", [("gfm-small-sum", "sum"),
                                                  ("gfm-small-switch", "pf"),
                                                  ("gfm-small-switch", "qos")])
def test_shipped_checkpoints_give_the_reference_powers(checkpoint: str, objective: str) -> None:
    model, _ = load_power_model(CHECKPOINTS / checkpoint)
    policy = GFMPolicy(CHECKPOINTS / checkpoint)  # frozen graph by default
    for k, with_mask in ((5, False), (20, True), (50, False)):
        g = gains(1, k, seed=k)[0]
        m = mask(1, k, seed=k)[0] if with_mask else None
        state = InterferenceState(g.numpy(), NOISE, PMAX, None if m is None else m.numpy())
        got = np.asarray(policy.decide(state, get_objective(objective)).power_w)
        with torch.no_grad():
            ref = reference_powers(model.eval(), g[None], None if m is None else m[None],
                                   objective)[0].numpy()
        assert np.max(np.abs(got - ref)) <= TOL * PMAX


@pytest.mark.parametrize("checkpoint", ["gfm-small-sum", "gfm-small-switch"])
def test_frozen_graph_equals_eager_for_any_batch_size_and_k(checkpoint: str) -> None:
    model, _ = load_power_model(CHECKPOINTS / checkpoint)
    graph = freeze_power_model(model)
    objectives = PROMPTS if model.head.prompt is not None else ("sum",)
    for b, k in ((1, 3), (1, 20), (5, 50), (8, 12)):
        batch = graph_batch(gains(b, k, seed=b + k), NOISE, PMAX, mask(b, k))
        for objective in objectives:
            with torch.inference_mode():
                eager, frozen = model(batch, objective), run_frozen(graph, batch, objective)
            assert frozen.shape == (b, k)
            assert torch.max(torch.abs(eager - frozen)).item() <= TOL * PMAX


def test_frozen_and_eager_policies_decide_the_same_batch() -> None:
    states = [InterferenceState(gains(1, 30, seed=s)[0].numpy(), NOISE, PMAX) for s in range(4)]
    objectives = [get_objective("sum")] * 4
    frozen = GFMPolicy().decide_batch(states, objectives)
    eager = GFMPolicy(frozen=False).decide_batch(states, objectives)
    for a, b in zip(frozen, eager, strict=True):
        assert np.max(np.abs(np.asarray(a.power_w) - np.asarray(b.power_w))) <= TOL * PMAX


def test_in_memory_models_run_eager() -> None:
    model = GFMPowerModel(GFMBackbone(BackboneConfig(layers=1, dim=8, heads=2)), PowerHead(8))
    policy = GFMPolicy.from_model(model)
    state = InterferenceState(gains(1, 4)[0].numpy(), NOISE, PMAX)
    assert policy.decide(state, get_objective("sum")).power_w.shape == (4,)
    assert not policy._graphs


@pytest.mark.parametrize("checkpoint", SHIPPED)
def test_every_shipped_gfm_checkpoint_computes_the_reference_arithmetic(checkpoint: str) -> None:
    """Eager and frozen powers (every prompt) within 1e-5 of Pmax of the per-layer channels-last
    reference; a pre-trained backbone's embeddings within 1e-4 (a batch of 2, with a mask)."""
    g, m = gains(2, 30, seed=3), mask(2, 30, seed=4)
    batch = graph_batch(g, NOISE, PMAX, m)
    config = json.loads((CHECKPOINTS / checkpoint / "config.json").read_text())
    if config["kind"] != POWER_KIND:
        bb = load_backbone(CHECKPOINTS / checkpoint)[0].eval()
        with torch.inference_mode():
            ref = reference_backbone(bb, batch.node, batch.edge, batch.known)
            assert torch.max(torch.abs(bb(batch) - ref)).item() <= 1e-4
        return
    model = load_power_model(CHECKPOINTS / checkpoint)[0].eval()
    graph = freeze_power_model(model)
    for objective in PROMPTS if model.head.prompt is not None else ("sum",):
        with torch.inference_mode():
            ref = reference_powers(model, g, m, objective)
            for got in (model(batch, objective), run_frozen(graph, batch, objective)):
                assert torch.max(torch.abs(got - ref)).item() <= TOL * PMAX
