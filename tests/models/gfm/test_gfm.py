"""GFM-RA: equivariance, the bias projector, pre-training mechanics, fine-tuning, checkpoints."""

import json

import numpy as np
import pytest
import torch

from rrm.core.errors import CheckpointError
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.data import GraphSet
from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.policy import GFMPolicy
from rrm.models.gfm.pretrain import (
    HybridPretrainer,
    PretrainConfig,
    masked_edge_loss,
    sample_edge_mask,
)
from rrm.models.gfm.store import load_power_model, save_power_model
from rrm.models.gfm.train import FinetuneConfig, finetune, utility_loss

TINY = BackboneConfig(layers=2, dim=16, heads=2, bias_hidden=8)
NOISE, PMAX = 1e-13, 0.01


def gains(b=3, k=7, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.exponential(size=(b, k, k)) * 10 ** rng.uniform(-12, -8, size=(b, k, k))
    g[:, np.arange(k), np.arange(k)] *= 100
    return torch.from_numpy(g)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.mark.parametrize("edge_value_dim", [0, 3])
def test_backbone_is_permutation_equivariant(edge_value_dim):
    model = GFMBackbone(BackboneConfig(**{**TINY.as_dict(), "edge_value_dim": edge_value_dim}))
    model.eval()
    g = gains()
    perm = torch.randperm(7)
    z = model(graph_batch(g, NOISE, PMAX))
    zp = model(graph_batch(g[:, perm][:, :, perm], NOISE, PMAX))
    torch.testing.assert_close(zp, z[:, perm], rtol=1e-4, atol=1e-5)


def test_bias_projector_makes_attention_depend_on_edges():
    model = GFMBackbone(TINY).eval()
    g = gains(b=1)
    other = g.clone()
    off = ~torch.eye(7, dtype=torch.bool)
    other[0][off] = other[0][off] * 1e-3  # same direct links, weaker interference
    a, b = model(graph_batch(g, NOISE, PMAX)), model(graph_batch(other, NOISE, PMAX))
    assert not torch.allclose(a, b, atol=1e-4)
    for proj in model.bias_proj:  # without the bias the edges are invisible
        torch.nn.init.zeros_(proj[-1].weight)
        torch.nn.init.zeros_(proj[-1].bias)
    torch.testing.assert_close(model(graph_batch(g, NOISE, PMAX)),
                               model(graph_batch(other, NOISE, PMAX)))


def test_edge_values_carry_edges_without_any_attention_bias():
    cfg = BackboneConfig(**{**TINY.as_dict(), "edge_value_dim": 2})
    model = GFMBackbone(cfg).eval()
    for proj in model.bias_proj:  # zero only the H bias outputs: attention ignores edges
        torch.nn.init.zeros_(proj[-1].weight[:cfg.heads])
        torch.nn.init.zeros_(proj[-1].bias[:cfg.heads])
    g = gains(b=1)
    other = g.clone()
    off = ~torch.eye(7, dtype=torch.bool)
    other[0][off] = other[0][off] * 1e-3
    a, b = model(graph_batch(g, NOISE, PMAX)), model(graph_batch(other, NOISE, PMAX))
    assert not torch.allclose(a, b, atol=1e-4)


def test_masked_edge_loss_ignores_unmasked_edges():
    model = HybridPretrainer(TINY, PretrainConfig())
    g = graph_batch(gains(), NOISE, PMAX)
    masked = sample_edge_mask(g.known, 0.3, torch.Generator().manual_seed(1))
    z = model.backbone(g, masked)
    base = masked_edge_loss(model.decoder, z, g.edge, masked)
    changed = g.edge.clone()
    changed[~masked] += 5.0
    torch.testing.assert_close(masked_edge_loss(model.decoder, z, changed, masked), base)
    changed[masked] += 5.0
    assert masked_edge_loss(model.decoder, z, changed, masked) > base


def test_mask_never_hides_direct_links_or_unknown_edges():
    known = torch.rand(4, 9, 9) > 0.3
    masked = sample_edge_mask(known, 0.9)
    assert not masked[:, torch.arange(9), torch.arange(9)].any()
    assert not (masked & ~known).any()


def test_ema_update_is_exact_and_the_teacher_gets_no_gradient():
    cfg = PretrainConfig(ema_decay=0.9)
    model = HybridPretrainer(TINY, cfg)
    g = graph_batch(gains(), NOISE, PMAX)
    loss = model(g, sample_edge_mask(g.known, 0.3)).sum()
    loss.backward()
    assert all(p.grad is None for p in model.teacher_backbone.parameters())
    assert all(p.grad is None for p in model.teacher_projector.parameters())
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.teacher_backbone.parameters()]
    student = [p.clone() for p in model.backbone.parameters()]
    model.update_teacher()
    for t, t0, s in zip(model.teacher_backbone.parameters(), before, student, strict=True):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s)


def test_fine_tuning_reduces_the_loss_on_a_tiny_set():
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))
    data = GraphSet("tiny", gains(b=32, k=6, seed=3), NOISE, PMAX)
    before = utility_loss(model, data.gains, NOISE, PMAX, "sum").item()
    finetune(model, [data], FinetuneConfig(warmup_epochs=2, epochs=8, batch_size=8), seed=0)
    after = utility_loss(model, data.gains, NOISE, PMAX, "sum").item()
    assert after < before - 0.02


def test_switchable_head_answers_differently_per_objective():
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim, switchable=True))
    g = graph_batch(gains(), NOISE, PMAX)
    assert not torch.allclose(model(g, "sum"), model(g, "qos"))


def test_checkpoint_round_trip_is_exact_and_tampering_is_caught(tmp_path):
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))
    save_power_model(tmp_path / "ck", model, {"note": "test"}, {"command": "pytest"})
    loaded, meta = load_power_model(tmp_path / "ck")
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(),
                                  strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    assert meta["command"] == "pytest" and len(meta["sha256"]) == 64
    weights = tmp_path / "ck" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_power_model(tmp_path / "ck")
    weights.unlink()
    with pytest.raises(CheckpointError, match="has no model.safetensors"):
        load_power_model(tmp_path / "ck")


def test_checkpoint_of_another_kind_is_refused(tmp_path):
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))
    save_power_model(tmp_path / "ck", model, {}, {})
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    cfg["kind"] = "egat"
    (tmp_path / "ck" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not a fine-tuned GFM"):
        load_power_model(tmp_path / "ck")


def test_policy_respects_budgets_and_accepts_missing_csi(tmp_path):
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))
    save_power_model(tmp_path / "ck", model, {}, {})
    policy = GFMPolicy(tmp_path / "ck")
    g = gains(b=4).numpy()
    mask = np.random.default_rng(0).random(g.shape) > 0.5
    obj = get_objective("sum")
    for state in (InterferenceState(g, NOISE, PMAX), InterferenceState(g[0], NOISE, PMAX),
                  InterferenceState(g, NOISE, PMAX, csi_mask=mask)):
        p = policy.decide(state, obj).power_w
        assert p.shape == state.gains.shape[:-1] and np.all((p >= 0) & (p <= PMAX))


def test_pcgnn_baseline_is_equivariant_and_round_trips(tmp_path):
    from rrm.models.gfm.pcgnn import PCGNN, PCGNNConfig

    model = GFMPowerModel(PCGNN(PCGNNConfig(layers=2, dim=8)), PowerHead(8)).eval()
    g = gains()
    perm = torch.randperm(7)
    p = model(graph_batch(g, NOISE, PMAX))
    pp = model(graph_batch(g[:, perm][:, :, perm], NOISE, PMAX))
    torch.testing.assert_close(pp, p[:, perm], rtol=1e-5, atol=1e-9)
    save_power_model(tmp_path / "pc", model, {}, {})
    loaded, _ = load_power_model(tmp_path / "pc")
    torch.testing.assert_close(loaded.eval()(graph_batch(g, NOISE, PMAX)), p)


def test_n_shot_sets_are_prefixes_of_the_fine_tuning_pool():
    from rrm.models.gfm.data import load_entry

    small, pool = load_entry("D16", "train", 16, 0), load_entry("D16", "train", 2048, 0)
    assert torch.equal(small.gains, pool.gains[:16]) and len(pool.gains) == 2048


def test_csi_drop_hides_links_from_the_model_but_scores_true_channels(monkeypatch):
    import rrm.models.gfm.train as train_module

    seen = []
    real = train_module.graph_batch
    monkeypatch.setattr(train_module, "graph_batch",
                        lambda *a: (seen.append(a[3]), real(*a))[1])
    model = GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))
    data = GraphSet("tiny", gains(b=16, k=6, seed=4), NOISE, PMAX)
    finetune(model, [data], FinetuneConfig(warmup_epochs=1, epochs=3, batch_size=4,
                                           csi_drop=0.5), seed=0)
    off = ~torch.eye(6, dtype=torch.bool)
    shares = [float((~m[:, off]).float().mean()) for m in seen]
    assert len(shares) == 4 * 8  # 4 epochs of 8 batches of 2
    assert max(shares) <= 0.6 and len(set(shares)) > 1
    assert all(bool(m.diagonal(dim1=-2, dim2=-1).all()) for m in seen)  # direct links known
    # the loss uses the true gains: hiding nothing gives the plain loss
    plain = utility_loss(model, data.gains, NOISE, PMAX, "sum")
    none_hidden = utility_loss(model, data.gains, NOISE, PMAX, "sum",
                               torch.ones(16, 6, 6, dtype=torch.bool))
    torch.testing.assert_close(plain, none_hidden)
