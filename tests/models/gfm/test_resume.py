"""Pre-training resume: an interrupted run continued equals one that never stopped."""

import json

import pytest
import torch

from rrm.cli import main
from rrm.core.errors import CheckpointError
from rrm.models.gfm.backbone import BackboneConfig
from rrm.models.gfm.data import load_entry
from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig
from rrm.models.gfm.store import load_backbone
from rrm.models.gfm.train import pretrain

TINY = BackboneConfig(layers=1, dim=8, heads=2, bias_hidden=4)


def _model(seed):
    torch.manual_seed(seed)
    return HybridPretrainer(TINY, PretrainConfig(lr_patience=0))


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    sets = [load_entry("D1", "train", 16, 0), load_entry("D4", "train", 8, 0)]
    straight = _model(0)
    full = pretrain(straight, sets, 3, 8, 1e-3, 0, resume_dir=tmp_path / "a")
    first = _model(0)
    part = pretrain(first, sets, 3, 8, 1e-3, 0, resume_dir=tmp_path / "b", time_limit_s=0)
    assert len(part) == 1  # the limit ends the run after its first epoch
    resumed = _model(123)  # another init: everything must come from the saved state
    rest = pretrain(resumed, sets, 3, 8, 1e-3, 0, resume_dir=tmp_path / "b")
    assert _without_time(rest) == _without_time(full)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name  # student, EMA teacher and heads, bit for bit


def test_resuming_with_other_settings_is_refused(tmp_path):
    sets = [load_entry("D1", "train", 8, 0)]
    pretrain(_model(0), sets, 1, 8, 1e-3, 0, resume_dir=tmp_path)
    with pytest.raises(CheckpointError, match="other settings"):
        pretrain(_model(0), sets, 2, 8, 1e-2, 0, resume_dir=tmp_path)


def test_cli_time_limit_then_rerun_finishes_the_run(tmp_path, capsys):
    out = tmp_path / "pre"
    args = ["gfm", "pretrain", "--entries", "D1", "--n-per-entry", "8", "--epochs", "2",
            "--batch-size", "8", "--layers", "1", "--dim", "8", "--heads", "2",
            "--threads", "1", "--out", str(out)]
    assert main([*args, "--time-limit", "0"]) == 0
    assert "after epoch 1 of 2" in capsys.readouterr().out
    assert load_backbone(out)[1]["epochs_done"] == 1
    assert main([*args, "--time-limit", "0"]) == 0  # the same command continues
    _, meta = load_backbone(out)
    assert meta["epochs_done"] == 2 and [r["epoch"] for r in meta["history"]] == [1, 2]
    assert json.loads((out / "resume" / "metadata.json").read_text())["epoch"] == 2
