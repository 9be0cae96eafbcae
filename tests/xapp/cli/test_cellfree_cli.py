"""rrm train-egat and rrm eval-cellfree end to end on a tiny budget, and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrm.models.cellfree.store import load_egat
from rrm.xapp.cli import main


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "egat"
    assert main(["train-egat", "--out", str(ck), "--steps", "3", "--batch-size", "4",
                 "--samples", "2", "--width", "8", "--heads", "2", "--layers", "1",
                 "--aps", "4", "--ues", "2", "--threads", "1"]) == 0
    model, meta = load_egat(ck)
    assert meta["command"].startswith("rrm train-egat") and meta["steps_done"] == 3
    assert meta["wall_time_s"] >= 0 and model.cfg.width == 8
    dnn = tmp_path / "dnn"
    assert main(["train-egat", "--out", str(dnn), "--arch", "dnn", "--dnn-width", "8",
                 "--steps", "2", "--batch-size", "4", "--samples", "2", "--aps", "8",
                 "--ues", "4", "--threads", "1"]) == 0
    out = tmp_path / "eval"
    assert main(["eval-cellfree", "--out", str(out), "--checkpoint", str(ck), "--ablation",
                 str(ck), "--dnn", str(dnn), "--n", "3", "--n-aosca", "1", "--aosca-iter", "1",
                 "--capacities", "40,60", "--aps", "4", "--ues", "2,3",
                 "--timing-repeats", "1"]) == 0
    md = (out / "cellfree.md").read_text()
    for title in ("Table II", "Table III", "Table IV", "Fig. 6", "Fig. 9", "Fig. 10"):
        assert title in md
    assert (out / "cellfree.png").stat().st_size > 10_000
    res = json.loads((out / "cellfree.json").read_text())
    assert set(res["capacity"]["40"]) == {"egat", "engnn", "dnn", "ao-sca", "pc-wmmse", "fc-zf"}
    assert "dnn" not in res["aps"]["4"] and "dnn" not in res["ues"]["2"]  # B=8, K=4 only
    assert len(res["capacity"]["60"]["egat"]["wsr"]) == 3
    assert res["capacity"]["60"]["pc-wmmse"]["feasible_raw"] == 1.0
    assert set(res["timing"]) == {"2", "3"}


@pytest.mark.parametrize("argv, message", [
    (["train-egat", "--out", "x", "--width", "10", "--heads", "4"], "multiple of --heads"),
    (["train-egat", "--out", "x", "--margin", "1.5"], "--margin"),
    (["eval-cellfree", "--out", "x", "--capacities", "a,b"], "--capacities"),
    (["eval-cellfree", "--out", "x", "--checkpoint", "/nonexistent"], "no model.safetensors"),
])
def test_bad_input_exits_2_with_a_reason(argv: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
