"""rrm diffusion data / train / eval end to end on a tiny budget, and their refusals."""

import json

import pytest
import torch

from rrm.cli import main
from rrm.models.diffusion.model import load_diffusion


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_data_train_eval_chain(tmp_path, capsys):
    data, ckpt, report = tmp_path / "data", tmp_path / "ckpt", tmp_path / "report"
    assert main(["diffusion", "data", "--out", str(data), "--num-pairs", "4", "--iterations", "20",
                 "--window", "10", "--samples", "5", "--threads", "1"]) == 0
    assert len(list(data.glob("density-*.npz"))) == 4 and (data / "expert_dynamics.png").is_file()
    assert main(["diffusion", "train", "--data", str(data), "--out", str(ckpt), "--steps", "4",
                 "--batch-size", "4", "--val-every", "2", "--channels", "8", "--embed-dim", "16",
                 "--threads", "1"]) == 0
    model, meta = load_diffusion(ckpt)
    assert meta["command"].startswith("rrm diffusion train") and len(meta["history"]) == 2
    assert "ugnn_p5" in meta["history"][-1] and not (ckpt / "resume").exists()
    assert model.denoiser.cfg.channels == 8
    capsys.readouterr()
    assert main(["diffusion", "eval", "--data", str(data), "--checkpoint", str(ckpt), "--out",
                 str(report), "--slots", "8", "--samples", "2", "--sizes", "4,6",
                 "--ddim-steps", "5", "--threads", "1"]) == 0
    results = json.loads((report / "results.json").read_text())
    assert results["ddim"] == {"steps": 5, "eta": 0.2}
    assert set(results["final"]) == {"U-GNN", "expert", "AP", "FP"}
    assert results["final"]["FP"]["p5"] >= 0 and len(results["transfer"]) == 2
    assert [r["f_min"] for r in results["fmin_sweep"]][:2] == [0.3, 0.35]
    for png in ("time_evolution.png", "fmin_sweep.png", "transfer.png"):
        assert (report / png).stat().st_size > 1000
    assert "| U-GNN |" in (report / "report.md").read_text()


def test_train_stopped_by_its_time_limit_keeps_its_resume_state_and_goes_on(tmp_path, capsys):
    data, first, second = tmp_path / "data", tmp_path / "first", tmp_path / "second"
    assert main(["diffusion", "data", "--out", str(data), "--num-pairs", "4", "--iterations", "20",
                 "--window", "10", "--samples", "5", "--threads", "1"]) == 0
    common = ["--data", str(data), "--steps", "3", "--batch-size", "4", "--channels", "8",
              "--embed-dim", "16", "--threads", "1", "--no-validate"]
    assert main(["diffusion", "train", *common, "--out", str(first), "--time-limit-s", "0"]) == 0
    _, meta = load_diffusion(first)
    assert meta["steps"] == 1 and meta["history"][-1]["stopped"] == 1
    assert (first / "resume" / "metadata.json").is_file()
    assert main(["diffusion", "train", *common, "--out", str(second), "--resume-from",
                 str(first / "resume"), "--save-every", "1"]) == 0
    _, meta = load_diffusion(second)
    assert meta["steps"] == 3 and "--resume-from" in meta["command"]
    assert not (second / "resume").exists() and "ugnn_p5" not in meta["history"][-1]


@pytest.mark.parametrize("args, message", [
    (["diffusion", "train", "--data", "/nonexistent", "--out", "x"], "no density-*.npz"),
    (["diffusion", "eval", "--data", "/nonexistent", "--checkpoint", "/nonexistent", "--out", "x"],
     "has no model.safetensors"),
    (["diffusion", "data", "--out", "x", "--samples", "300", "--window", "200"], "samples"),
    (["diffusion", "train", "--data", "/nonexistent", "--out", "x", "--resume-from",
      "/nonexistent"], "no resume state"),
])
def test_bad_requests_get_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
