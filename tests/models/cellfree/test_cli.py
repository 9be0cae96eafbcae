"""rrm egat train and rrm egat eval end to end on a tiny budget, and their refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rrm.cli import main
from rrm.models.cellfree.store import load_egat


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "egat"
    assert main(["egat", "train", "--out", str(ck), "--steps", "3", "--batch-size", "4",
                 "--samples", "2", "--width", "8", "--heads", "2", "--layers", "1",
                 "--aps", "4", "--ues", "2", "--threads", "1"]) == 0
    model, meta = load_egat(ck)
    assert meta["command"].startswith("rrm egat train") and meta["steps_done"] == 3
    assert meta["wall_time_s"] >= 0 and model.cfg.width == 8
    dnn = tmp_path / "dnn"
    assert main(["egat", "train", "--out", str(dnn), "--arch", "dnn", "--dnn-width", "8",
                 "--steps", "2", "--batch-size", "4", "--samples", "2", "--aps", "8",
                 "--ues", "4", "--threads", "1"]) == 0
    out = tmp_path / "eval"
    assert main(["egat", "eval", "--out", str(out), "--checkpoint", str(ck), "--ablation",
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


def test_train_with_a_fixed_penalty_stops_at_a_wall_clock_time(tmp_path: Path) -> None:
    import time

    ck = tmp_path / "egat"
    assert main(["egat", "train", "--out", str(ck), "--steps", "1000", "--batch-size", "4",
                 "--samples", "2", "--width", "8", "--heads", "2", "--layers", "1",
                 "--aps", "4", "--ues", "2", "--threads", "1", "--dual-lr", "0",
                 "--mu-init", "3", "--margin", "0", "--val-rate-cap", "--lr-patience", "2",
                 "--stop-at", str(time.time() - 1), "--device", "cpu"]) == 0
    model, meta = load_egat(ck)
    assert 1 <= meta["steps_done"] < 1000  # the deadline had passed: 1 s of steps, the save
    assert meta["machine"].startswith("CPU")
    config = json.loads((ck / "config.json").read_text())
    assert config["mu"] == [3.0] * 4 and config["training"]["val_rate_cap"] is True


@pytest.mark.parametrize("argv, message", [
    (["egat", "train", "--out", "x", "--mu-init", "-1"], "--mu-init"),
    (["egat", "train", "--out", "x", "--device", "nodevice"], "--device"),
    (["egat", "train", "--out", "x", "--width", "10", "--heads", "4"], "multiple of --heads"),
    (["egat", "train", "--out", "x", "--margin", "1.5"], "--margin"),
    (["egat", "eval", "--out", "x", "--capacities", "a,b"], "--capacities"),
    (["egat", "eval", "--out", "x", "--checkpoint", "/nonexistent"], "no model.safetensors"),
])
def test_bad_input_exits_2_with_a_reason(argv: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_build_model_picks_the_architecture() -> None:
    from rrm.models.cellfree.dnn import DenseNet
    from rrm.models.cellfree.egat import Egat
    from rrm.models.cellfree.train import build_model

    sizes = {"num_aps": 4, "num_ues": 2, "width": 8, "heads": 2, "layers": 1}
    egat = build_model("egat", attention=False, **sizes)
    assert isinstance(egat, Egat) and not egat.cfg.attention
    dnn = build_model("dnn", dnn_width=8, **sizes)
    assert isinstance(dnn, DenseNet) and (dnn.cfg.num_aps, dnn.cfg.num_ues) == (4, 2)


def test_eval_without_matplotlib_stops_first_with_the_extra_to_install(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if rrm[plots] were not installed
    assert main(["egat", "eval", "--out", str(tmp_path / "eval"), "--n", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "install rrm[plots]" in err[0]
    assert not (tmp_path / "eval").exists()


def test_eval_json_scores_one_setting_on_its_last_line(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    argv = ["egat", "eval", "--aps", "4", "--ues", "2", "--antennas", "2", "--capacity-mbps",
            "40", "--instances", "3", "--seed", "5", "--json", "--aosca-iter", "1"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(first["policies"]) == {"egat", "ao-sca", "pc-wmmse", "fc-zf"}
    for row in first["policies"].values():
        assert {"wsr", "feasible_share", "ms_per_instance"} <= set(row)
        assert 0.0 <= row["feasible_share"] <= 1.0 and row["wsr"] >= 0.0
        assert row["instances"] == 3
    assert first["policies"]["pc-wmmse"]["feasible_share"] == 1.0  # feasible by construction
    assert first["setting"]["aps"] == 4 and first["setting"]["capacity_mbps"] == 40.0
    assert main(argv) == 0  # same seed, same instances, same scores (solver round-off aside)
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("egat", "pc-wmmse", "fc-zf", "ao-sca"):
        assert again["policies"][name]["wsr"] == pytest.approx(first["policies"][name]["wsr"],
                                                               rel=1e-5), name


@pytest.mark.parametrize("extra, message", [
    (["--aps", "7,8"], "--aps takes one positive integer"),
    (["--instances", "0"], "--instances must be at least 1"),
    (["--capacity-mbps", "-1"], "--capacity-mbps must be positive"),
    (["--antennas", "3", "--instances", "1"], "trained for M=2"),
])
def test_eval_json_bad_input_exits_2(extra: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["egat", "eval", "--json", "--ues", "2", *extra]) == 2
    assert message in capsys.readouterr().err


def test_eval_needs_out_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["egat", "eval"]) == 2
    assert "--out DIR" in capsys.readouterr().err


def test_train_resume_extends_a_run_and_records_it(tmp_path: Path) -> None:
    ck = tmp_path / "egat"
    base = ["egat", "train", "--out", str(ck), "--batch-size", "4", "--samples", "2",
            "--width", "8", "--heads", "2", "--layers", "1", "--aps", "4", "--ues", "2",
            "--threads", "1", "--resume", "--epoch-steps", "1", "--validate-every", "1",
            "--sizes", "4x2,5x3", "--capacities", "40,60"]
    assert main([*base, "--steps", "2"]) == 0
    assert main([*base, "--steps", "3", "--init", str(ck)]) == 0  # resumes; --init unused
    _, meta = load_egat(ck)
    assert meta["steps_done"] == 3 and meta["resumed_from"] == str(ck) + ".resume"
    assert (tmp_path / "egat.resume" / "model.safetensors").is_file()
    assert main([*base, "--steps", "4", "--sizes", "4x2"]) == 2  # other settings: refused
