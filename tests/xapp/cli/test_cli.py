"""The rrm command line: contracts of solve and data gen, one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rrm.core import physics
from rrm.sim.dataset import read_dataset
from rrm.xapp.cli import main


def rrm(*args):
    return subprocess.run([sys.executable, "-m", "rrm.xapp.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_solve_writes_powers_and_a_json_summary(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gains = rng.exponential(size=(5, 4, 4)) * 1e-9
    np.save(tmp_path / "g.npy", gains)
    code = main(["solve", "--policy", "wmmse", "--gains", str(tmp_path / "g.npy"),
                 "--out", str(tmp_path / "p.npy"), "--json"])
    assert code == 0
    power = np.load(tmp_path / "p.npy")
    assert power.shape == (5, 4) and np.all((power >= 0) & (power <= 0.01 + 1e-12))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    noise = 10 ** ((-174 + 70 - 30) / 10)  # the d2d default
    expected = physics.rates(gains, power, noise).sum(-1).mean()
    assert summary["policy"] == "wmmse" and summary["mean_utility"] == pytest.approx(expected)


def test_solve_accepts_a_single_matrix(tmp_path):
    np.save(tmp_path / "g.npy", np.eye(3) * 1e-9)
    assert main(["solve", "--policy", "full-reuse", "--gains", str(tmp_path / "g.npy"),
                 "--out", str(tmp_path / "p.npy"), "--pmax-w", "0.5"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("gains, message", [
    (np.ones((2, 3)), "must be [K,K] or [n,K,K]"),
    (np.full((2, 2), np.nan), "NaN or Inf"),
    (-np.ones((2, 2)), "non-negative"),
    (np.zeros((0, 0)), "at least one link"),
])
def test_solve_refuses_bad_gains_with_one_line_and_exit_2(tmp_path, capsys, gains, message):
    np.save(tmp_path / "g.npy", gains)
    code = main(["solve", "--policy", "wmmse", "--gains", str(tmp_path / "g.npy"),
                 "--out", str(tmp_path / "p.npy")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "p.npy").exists()


def test_solve_refuses_unknown_policy_and_missing_or_foreign_files(tmp_path, capsys):
    np.save(tmp_path / "g.npy", np.eye(2))
    assert main(["solve", "--policy", "magic", "--gains", str(tmp_path / "g.npy"),
                 "--out", str(tmp_path / "p.npy")]) == 2
    assert "unknown policy 'magic'" in capsys.readouterr().err
    assert main(["solve", "--policy", "wmmse", "--gains", str(tmp_path / "none.npy"),
                 "--out", str(tmp_path / "p.npy")]) == 2
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert main(["solve", "--policy", "wmmse", "--gains", str(tmp_path / "bad.npy"),
                 "--out", str(tmp_path / "p.npy")]) == 2
    assert main(["solve", "--policy", "wmmse", "--gains", str(tmp_path / "g.npy"),
                 "--out", str(tmp_path / "p.npy"), "--noise-w", "-1"]) == 2


def test_data_gen_writes_the_contract_arrays(tmp_path, capsys):
    out = tmp_path / "d18.npz"
    assert main(["data", "gen", "--scenario", "d2d", "--catalog", "D18", "--n", "12",
                 "--seed", "3", "--out", str(out)]) == 0
    arrays, meta = read_dataset(out)
    assert arrays["gains"].shape == (12, 50, 50) and arrays["rx_xy"].shape == (12, 50, 2)
    assert meta["catalog"] == "D18" and meta["params"]["noise_w"] > 0


@pytest.mark.parametrize("args, message", [
    (["--catalog", "D42", "--n", "2"], "unknown catalog entry"),
    (["--n", "0"], "at least 1"),
    (["--n", "2", "--k", "0"], "--k must be at least 1"),
    ([], "--n is required"),
])
def test_data_gen_refuses_bad_requests(tmp_path, capsys, args, message):
    code = main(["data", "gen", "--scenario", "d2d", "--out", str(tmp_path / "x.npz"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_console_script_runs_and_every_command_has_help():
    for args in (["--help"], ["solve", "--help"], ["data", "gen", "--help"],
                 ["sim", "serve", "--help"], ["xapp", "run", "--help"], ["demo", "--help"]):
        result = rrm(*args)
        assert result.returncode == 0 and "usage" in result.stdout


def test_demo_runs_the_closed_loop_and_prints_the_json_contract():
    result = rrm("demo", "--slots", "60", "--slot-ms", "50", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("policy", "slots", "controls", "refusals", "fallbacks", "deadline_misses",
                "latency_ms", "utility"):
        assert key in summary
    assert summary["slots"] == 60 and summary["controls"] + summary["refusals"] == 60
    assert set(summary["latency_ms"]) >= {"p50", "p99"}
    assert set(summary["utility"]) >= {"policy", "wmmse", "full_reuse"}
    assert summary["utility"]["wmmse"] > summary["utility"]["full_reuse"]
