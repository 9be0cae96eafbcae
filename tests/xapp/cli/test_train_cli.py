"""rrm pretrain / finetune / eval end to end on a tiny budget, and their refusals."""

import json

import pytest

from models.gfm.store import load_backbone, load_power_model
from xapp.cli import main


def test_pretrain_finetune_eval_chain(tmp_path, capsys):
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    assert main(["pretrain", "--entries", "D1,D4", "--n-per-entry", "16", "--epochs", "1",
                 "--batch-size", "8", "--layers", "1", "--dim", "16", "--heads", "2",
                 "--threads", "1", "--out", str(pre)]) == 0
    backbone, meta = load_backbone(pre)
    assert meta["command"].startswith("rrm pretrain") and meta["history"][0]["epoch"] == 1
    assert main(["finetune", "--backbone", str(pre), "--catalog", "D16", "--shots", "16",
                 "--warmup-epochs", "1", "--epochs", "1", "--eval-n", "4", "--threads", "1",
                 "--out", str(fine)]) == 0
    model, meta = load_power_model(fine)
    assert 0 < meta["metrics"]["sum_ratio_vs_wmmse_best"] < 1.5
    assert meta["data"]["train"] == "D16/train[:16]"
    capsys.readouterr()
    assert main(["eval", "--catalog", "D16", "--n", "4", "--checkpoint", str(fine),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {r["policy"] for r in rows} == {"gfm", "wmmse", "full-reuse", "wmmse-best"}
    assert next(r for r in rows if r["policy"] == "wmmse-best")["ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("args, message", [
    (["pretrain", "--entries", "D99", "--out", "x"], "unknown catalog entry"),
    (["pretrain", "--dim", "10", "--heads", "3", "--out", "x"], "divisible"),
    (["finetune", "--backbone", "/nonexistent", "--out", "x"], "has no model.safetensors"),
    (["finetune", "--shots", "0", "--out", "x"], "--shots must be at least 1"),
])
def test_bad_training_requests_get_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
