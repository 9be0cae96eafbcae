"""Utility pre-training on the streamed corpus (our extension): determinism, resume,
learning, the command line and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rrm.cli import main
from rrm.core import physics
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.policy import GFMPolicy
from rrm.models.gfm.store import load_power_model
from rrm.models.gfm.utility_train import (
    FINAL_LR_SHARE,
    UtilitySettings,
    batch_objective,
    cosine_schedule,
    train_utility_stream,
)
from rrm.sim.scenarios.corpus import FAMILIES, CorpusSpec

TINY = BackboneConfig(layers=1, dim=8, heads=2, bias_hidden=4, edge_value_dim=2)
SPEC = CorpusSpec.parse("rayleigh-ic,itu1411-varied", (3, 6))
CPU = torch.device("cpu")


def _model(seed: int, switchable: bool = False) -> GFMPowerModel:
    torch.manual_seed(seed)
    return GFMPowerModel(GFMBackbone(TINY), PowerHead(TINY.dim, switchable))


def _rows(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "snapshots_per_s")}
            for r in history]


def test_resumed_run_equals_an_uninterrupted_one_for_any_worker_count(tmp_path) -> None:
    run = UtilitySettings(("sum", "pf", "qos"), epochs=3, steps_per_epoch=3, batch_size=4,
                          seed=4, csi_drop=0.3)
    straight = _model(0, switchable=True)
    full = train_utility_stream(straight, SPEC, run, CPU, resume_dir=tmp_path / "a")
    first = _model(0, switchable=True)
    part = train_utility_stream(first, SPEC, run, CPU, resume_dir=tmp_path / "b",
                                time_limit_s=0)
    assert len(part) == 1
    resumed = _model(7, switchable=True)
    rest = train_utility_stream(resumed, SPEC, UtilitySettings(**{**run.__dict__, "workers": 2}),
                                CPU, resume_dir=tmp_path / "b")
    assert _rows(rest) == _rows(full)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def test_batch_objectives_are_a_function_of_seed_epoch_and_batch() -> None:
    run = UtilitySettings(("sum", "pf", "qos"), seed=1)
    drawn = [batch_objective(run, e, i) for e in range(4) for i in range(25)]
    assert drawn == [batch_objective(run, e, i) for e in range(4) for i in range(25)]
    assert set(drawn) == {"sum", "pf", "qos"}
    assert {batch_objective(UtilitySettings(("pf",)), 0, i) for i in range(9)} == {"pf"}


def test_cosine_schedule_starts_at_lr_and_ends_at_the_final_share() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = cosine_schedule(opt, 10)
    rates = []
    for _ in range(12):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[0] == pytest.approx(0.5)
    assert rates[5] == pytest.approx(0.5 * (FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) / 2))
    assert rates[10] == rates[11] == pytest.approx(0.5 * FINAL_LR_SHARE)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_training_raises_the_sum_rate_well_above_full_reuse() -> None:
    spec = CorpusSpec.parse("rayleigh-ic", (6, 6))
    model = _model(0)
    run = UtilitySettings(epochs=6, steps_per_epoch=10, batch_size=16, lr=1e-2, seed=0)
    history = train_utility_stream(model, spec, run, CPU)
    assert history[-1]["loss"] < history[0]["loss"]
    snaps = FAMILIES["rayleigh-ic"](np.random.default_rng(99), 64, 6)  # not a training batch
    gains = torch.from_numpy(snaps.gains)
    noise, pmax = torch.from_numpy(snaps.noise_w), torch.from_numpy(snaps.pmax_w)
    with torch.no_grad():
        power = model(graph_batch(gains, noise, pmax)).numpy()
    learned = physics.rates(snaps.gains, power, snaps.noise_w).sum(-1).mean()
    full = physics.rates(snaps.gains, snaps.pmax_w, snaps.noise_w).sum(-1).mean()
    assert learned > 1.2 * full


def test_cli_writes_a_policy_checkpoint_that_finetune_and_the_policy_load(tmp_path,
                                                                          capsys) -> None:
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    assert main(["gfm", "pretrain", "--corpus", "rayleigh-ic,catalog", "--utility", "switch",
                 "--k-range", "4-6", "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "4", "--layers", "1", "--dim", "8", "--heads", "2",
                 "--device", "cpu", "--out", str(pre)]) == 0
    model, meta = load_power_model(pre)
    assert model.head.prompt is not None
    assert meta["snapshots_seen"] == 8 and meta["device"] == "cpu"
    assert "--utility switch" in meta["command"]
    assert meta["shift_stats"]["n"] == 64 * 32
    assert main(["gfm", "finetune", "--init", str(pre), "--catalog", "D16", "--shots", "4",
                 "--warmup-epochs", "0", "--epochs", "1", "--eval-n", "2", "--objective", "pf",
                 "--device", "cpu", "--out", str(fine)]) == 0
    _, fine_meta = load_power_model(fine)
    assert "pf_ratio_vs_wmmse_best" in fine_meta["metrics"]
    GFMPolicy(str(fine))  # the xApp's loader takes it


@pytest.mark.parametrize("args, message", [
    (["gfm", "pretrain", "--utility", "sum", "--out", "x"], "--utility needs --corpus"),
    (["gfm", "pretrain", "--corpus", "world", "--utility", "sum", "--csi-drop", "2",
      "--out", "x"], "--csi-drop must lie in [0, 1]"),
    (["gfm", "finetune", "--init", "x", "--backbone", "y", "--out", "z"], "--init replaces"),
])
def test_bad_utility_requests_get_one_line(capsys, args, message) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_init_without_prompts_cannot_become_switchable(tmp_path, capsys) -> None:
    from rrm.models.gfm.store import save_power_model

    save_power_model(tmp_path / "m", _model(0), {}, {})
    assert main(["gfm", "finetune", "--init", str(tmp_path / "m"), "--objective", "switch",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no objective prompts" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_switchable_utility_training_runs_on_cuda() -> None:
    model = _model(0, switchable=True)
    run = UtilitySettings(("sum", "pf", "qos"), epochs=1, steps_per_epoch=3, batch_size=4)
    history = train_utility_stream(model, SPEC, run, torch.device("cuda"))
    assert np.isfinite(history[0]["loss"])


def test_few_shot_suite_scores_a_utility_model_zero_shot_and_fine_tuned(tmp_path) -> None:
    from rrm.models.gfm.store import save_power_model

    save_power_model(tmp_path / "u", _model(0, switchable=True), {}, {})
    out = tmp_path / "eval"
    assert main(["gfm", "eval", "--suite", "few-shot", "--entries", "D16", "--objectives", "pf",
                 "--shots", "0,4", "--inits", "utility", "--utility-init", str(tmp_path / "u"),
                 "--warmup-epochs", "0", "--epochs", "1", "--n", "3", "--refine", "0",
                 "--out", str(out)]) == 0
    rows = json.loads((out / "fig6_few_shot_pf.json").read_text())
    assert [(r["init"], r["shots"]) for r in rows] == [("utility", 0), ("utility", 4)]
    assert rows[0]["train_s"] == 0.0 and rows[1]["train_s"] > 0
    assert all(0 < r["ratio"] < 1.5 for r in rows)


def test_bound_scaled_loss_is_minus_the_share_of_the_interference_free_bound() -> None:
    from rrm.models.gfm.train import utility_loss

    model = _model(0)
    gains = torch.tensor([[[2.0, 0.0], [0.0, 8.0]]], dtype=torch.float64)  # no interference
    noise, pmax = torch.ones(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    with torch.no_grad():
        power = model(graph_batch(gains, noise, pmax)).double()
        loss = utility_loss(model, gains, noise, pmax, "sum", bound_scaled=True)
    rate = torch.log2(1 + gains.diagonal(dim1=-2, dim2=-1) * power).sum()
    assert float(loss) == pytest.approx(-float(rate) / float(np.log2(3) + np.log2(9)), rel=1e-6)
    assert -1 <= float(loss) < 0
    with torch.no_grad():  # the plain loss: minus the mean rate per link
        plain = utility_loss(model, gains, noise, pmax, "sum")
    assert float(plain) == pytest.approx(-float(rate) / 2, rel=1e-6)


def test_utility_run_continues_from_a_whole_model(tmp_path, capsys) -> None:
    from rrm.models.gfm.store import save_power_model

    start = _model(3)
    save_power_model(tmp_path / "m", start, {}, {})
    args = ["gfm", "pretrain", "--corpus", "rayleigh-ic", "--utility", "sum", "--k-range", "4-5",
            "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--lr", "0",
            "--loss-scale", "bound", "--device", "cpu", "--init", str(tmp_path / "m")]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    model, meta = load_power_model(tmp_path / "o")
    for (name, a), (_, b) in zip(start.state_dict().items(), model.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name  # lr 0: the weights are the init's
    assert meta["history"][0]["loss"] < 0
    assert main([*args[:-2], "--utility", "switch", "--init", str(tmp_path / "m"),
                 "--out", str(tmp_path / "p")]) == 2
    assert "objective prompts" in capsys.readouterr().err
