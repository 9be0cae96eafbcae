"""rrm gfm pretrain / finetune / eval end to end on a tiny budget, and their refusals."""

import json

import pytest
import torch

from rrm.cli import main
from rrm.models.gfm.store import load_backbone, load_power_model


def test_pretrain_finetune_eval_chain(tmp_path, capsys):
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    assert main(["gfm", "pretrain", "--entries", "D1,D4", "--n-per-entry", "16", "--epochs", "1",
                 "--batch-size", "8", "--layers", "1", "--dim", "16", "--heads", "2",
                 "--threads", "1", "--out", str(pre)]) == 0
    backbone, meta = load_backbone(pre)
    assert meta["command"].startswith("rrm gfm pretrain") and meta["history"][0]["epoch"] == 1
    assert main(["gfm", "finetune", "--backbone", str(pre), "--catalog", "D16", "--shots", "16",
                 "--warmup-epochs", "1", "--epochs", "1", "--eval-n", "4", "--threads", "1",
                 "--out", str(fine)]) == 0
    model, meta = load_power_model(fine)
    assert 0 < meta["metrics"]["sum_ratio_vs_wmmse_best"] < 1.5
    assert meta["data"]["train"] == "D16/train[:16]"
    capsys.readouterr()
    assert main(["gfm", "eval", "--catalog", "D16", "--n", "4", "--checkpoint", str(fine),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {r["policy"] for r in rows} == {"gfm", "gfm-wmmse", "wmmse", "full-reuse",
                                          "wmmse-best"}
    assert next(r for r in rows if r["policy"] == "wmmse-best")["ratio"] == pytest.approx(1.0)


def test_finetune_on_several_entries_reports_each(tmp_path):
    out = tmp_path / "multi"
    assert main(["gfm", "finetune", "--catalog", "D16,D17", "--shots", "8", "--warmup-epochs", "1",
                 "--epochs", "1", "--batch-size", "8", "--eval-n", "3", "--threads", "1",
                 "--out", str(out)]) == 0
    _, meta = load_power_model(out)
    m = meta["metrics"]
    assert set(m) == {"D16_sum_ratio_vs_wmmse_best", "D17_sum_ratio_vs_wmmse_best",
                      "sum_ratio_vs_wmmse_best"}
    mean = (m["D16_sum_ratio_vs_wmmse_best"] + m["D17_sum_ratio_vs_wmmse_best"]) / 2
    assert m["sum_ratio_vs_wmmse_best"] == pytest.approx(mean, abs=1e-4)


@pytest.mark.parametrize("args, message", [
    (["gfm", "pretrain", "--entries", "D99", "--out", "x"], "unknown catalog entry"),
    (["gfm", "pretrain", "--dim", "10", "--heads", "3", "--out", "x"], "divisible"),
    (["gfm", "finetune", "--backbone", "/nonexistent", "--out", "x"], "has no model.safetensors"),
    (["gfm", "finetune", "--shots", "0", "--out", "x"], "--shots must be at least 1"),
    (["gfm", "finetune", "--min-steps-per-epoch", "0", "--out", "x"], "must be at least 1"),
])
def test_bad_training_requests_get_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


def test_eval_suite_writes_figures_and_tables(tmp_path):
    out = tmp_path / "eval"
    assert main(["gfm", "eval", "--suite", "per-k,missing-csi", "--entries", "D16", "--objectives",
                 "sum", "--n", "3", "--losses", "0,0.5", "--threads", "1",
                 "--out", str(out)]) == 0
    for stem in ("fig4_per_k", "fig5_missing_csi"):
        assert (out / f"{stem}.png").exists()
        rows = json.loads((out / f"{stem}.json").read_text())
        assert {r["policy"] for r in rows} >= {"gfm", "wmmse"}
    assert "rrm gfm eval --suite" in (out / "fig4_per_k.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["gfm", "eval", "--suite", "fig99"], "unknown suite 'fig99'"),
    (["gfm", "eval", "--suite", "missing-csi", "--losses", "0,2"], "--losses must lie in [0, 1]"),
    (["gfm", "eval", "--suite", "scaling", "--sizes", "3x64"], "--sizes wants LAYERSxDIMxHEADS"),
    (["gfm", "eval", "--suite", "per-k", "--objectives", "max"], "unknown objective 'max'"),
    (["gfm", "eval", "--suite", "few-shot", "--inits", "pre-trained,magic"],
     "unknown init 'magic'"),
    (["gfm", "eval", "--suite", "few-shot", "--shots=-1,64"], "--shots must be >= 0"),
    (["gfm", "eval", "--suite", "few-shot", "--shots", "0,64"], "--shots 0 scores a model"),
    (["gfm", "eval", "--suite", "few-shot", "--inits", "utility"], "needs --utility-init"),
    pytest.param(["gfm", "eval", "--suite", "few-shot", "--device", "cuda"], "CUDA",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")),
    (["gfm", "eval", "--suite", "few-shot", "--refine", "-1"], "--refine must be >= 0"),
    (["gfm", "eval", "--suite", "few-shot", "--min-steps-per-epoch", "0"],
     "--min-steps-per-epoch must be at least 1"),
])
def test_bad_eval_requests_get_one_line(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_few_shot_suite_covers_every_entry_and_init_and_averages(tmp_path):
    out = tmp_path / "fs"
    assert main(["gfm", "eval", "--suite", "few-shot", "--entries", "D16,D17", "--objectives",
                 "sum", "--shots", "8", "--inits", "scratch,pcgnn", "--warmup-epochs", "1",
                 "--epochs", "1", "--n", "3", "--threads", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "fig6_few_shot_sum.json").read_text())
    assert {(r["entry"], r["init"]) for r in rows} == {
        (e, i) for e in ("D16", "D17", "mean") for i in ("scratch", "pcgnn")}
    for init in ("scratch", "pcgnn"):
        per = [r["ratio"] for r in rows if r["init"] == init and r["entry"] != "mean"]
        mean = next(r["ratio"] for r in rows if r["init"] == init and r["entry"] == "mean")
        assert mean == pytest.approx(sum(per) / 2)
    assert {r["batch"] for r in rows if r["entry"] != "mean"} == {1}  # 8 shots, 8 steps/epoch
    # --refine 10 (default): the polished answer never scores below the model's own
    assert all(r["ratio_refined"] >= r["ratio"] - 1e-9 for r in rows)


def test_finetune_metadata_normalises_pf_like_the_paper(tmp_path):
    # pf utilities are negative on D17: U / U_ref would exceed 1 for a worse model
    out = tmp_path / "pf"
    assert main(["gfm", "finetune", "--catalog", "D17", "--shots", "8", "--objective", "pf",
                 "--warmup-epochs", "1", "--epochs", "1", "--eval-n", "3", "--threads", "1",
                 "--out", str(out)]) == 0
    ratio = load_power_model(out)[1]["metrics"]["pf_ratio_vs_wmmse_best"]
    assert 0 < ratio <= 1.0
