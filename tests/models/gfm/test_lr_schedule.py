"""``rrm gfm finetune --lr-schedule``: constant is the old loop, cosine ends at the floor."""

import json

import numpy as np
import pytest
import torch

from rrm.cli import main
from rrm.core.errors import InvalidInput
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.data import GraphSet, minibatches
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.schedule import cosine_factor, make_scheduler
from rrm.models.gfm.store import load_power_model
from rrm.models.gfm.train import FinetuneConfig, finetune, utility_loss

TINY = BackboneConfig(layers=2, dim=16, heads=2, bias_hidden=8)
NOISE, PMAX = 1e-13, 0.01


def tiny_set(b: int = 16, k: int = 6) -> GraphSet:
    rng = np.random.default_rng(3)
    g = rng.exponential(size=(b, k, k)) * 10 ** rng.uniform(-12, -8, size=(b, k, k))
    g[:, np.arange(k), np.arange(k)] *= 100
    return GraphSet("tiny", torch.from_numpy(g), NOISE, PMAX)


def tiny_model() -> GFMPowerModel:
    torch.manual_seed(0)
    return GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim))


def reference_finetune(model: GFMPowerModel, sets: list[GraphSet], cfg: FinetuneConfig,
                       seed: int) -> None:
    """The fine-tuning loop as it was before schedules existed (no csi_drop, CPU)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    batch_size = cfg.effective_batch_size(min(len(s.gains) for s in sets))
    for epochs, full in ((cfg.warmup_epochs, False), (cfg.epochs, True)):
        model.backbone.requires_grad_(full)
        groups = [{"params": model.head.parameters(), "lr": cfg.head_lr}]
        if full:
            groups.append({"params": model.backbone.parameters(), "lr": cfg.backbone_lr})
        opt = torch.optim.Adam(groups)
        for _ in range(epochs):
            for s, gains in minibatches(sets, batch_size, rng):
                loss = utility_loss(model, gains, s.noise_w, s.pmax_w, cfg.objective)
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.backbone.requires_grad_(True)


def test_constant_schedule_is_the_old_loop_bit_for_bit():
    cfg = FinetuneConfig(warmup_epochs=1, epochs=3, batch_size=4)
    assert cfg.lr_schedule == "constant"
    new, old = tiny_model(), tiny_model()
    finetune(new, [tiny_set()], cfg, seed=0)
    reference_finetune(old, [tiny_set()], cfg, seed=0)
    for (name, a), b in zip(new.state_dict().items(), old.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_cosine_schedule_reaches_the_floor_at_the_last_step(monkeypatch):
    seen: list[tuple[float, float]] = []
    real_step = torch.optim.Adam.step

    def recording_step(self, *a, **kw):  # the rates each step actually uses
        if len(self.param_groups) == 2:  # the full stage
            seen.append((self.param_groups[0]["lr"], self.param_groups[1]["lr"]))
        return real_step(self, *a, **kw)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    cfg = FinetuneConfig(warmup_epochs=1, epochs=3, batch_size=4, lr_schedule="cosine",
                         lr_floor=0.05)
    history = finetune(tiny_model(), [tiny_set()], cfg, seed=0)
    assert len(seen) == 3 * 8  # 3 full epochs of 8 batches of 2
    assert seen[0] == pytest.approx((cfg.head_lr, cfg.backbone_lr))
    assert seen[-1] == pytest.approx((0.05 * cfg.head_lr, 0.05 * cfg.backbone_lr))
    heads = [h for h, _ in seen]
    assert all(a > b for a, b in zip(heads, heads[1:], strict=False))  # strictly decaying
    assert [r["lr"] for r in history][0] == cfg.head_lr  # warm-up: constant
    assert history[-1]["lr"] == pytest.approx(0.05 * cfg.head_lr)


def test_cosine_factor_and_scheduler_edges():
    assert cosine_factor(0, 10, 0.01) == 1.0
    assert cosine_factor(5, 10, 0.01) == pytest.approx(0.505)
    assert cosine_factor(10, 10, 0.01) == cosine_factor(99, 10, 0.01) == 0.01
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert make_scheduler(opt, "constant", 10, 0.01) is None
    with pytest.raises(InvalidInput, match="unknown lr schedule"):
        make_scheduler(opt, "step", 10, 0.01)
    with pytest.raises(InvalidInput, match="lr floor"):
        make_scheduler(opt, "cosine", 10, 0.0)


def test_cli_records_the_schedule_in_the_metadata(tmp_path):
    out = tmp_path / "cos"
    assert main(["gfm", "finetune", "--catalog", "D16", "--shots", "8", "--warmup-epochs", "1",
                 "--epochs", "2", "--eval-n", "2", "--threads", "1", "--lr-schedule", "cosine",
                 "--lr-floor", "0.1", "--out", str(out)]) == 0
    meta = load_power_model(out)[1]
    training = json.loads((out / "config.json").read_text())["training"]["finetune"]
    assert (training["lr_schedule"], training["lr_floor"]) == ("cosine", 0.1)
    assert meta["history"][-1]["lr"] == pytest.approx(0.1 * training["head_lr"])
    assert main(["gfm", "finetune", "--lr-floor", "0", "--out", str(out)]) == 2
