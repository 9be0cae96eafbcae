"""rrm solve: the output contract, one-line errors with exit code 2, and no torch for
classical policies (the registry imports a policy's module only when it is made)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rrm.cli import main
from rrm.core import physics


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


def _modules_after(code: str) -> set[str]:
    """Top-level modules loaded by ``code`` in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def test_solve_with_wmmse_never_imports_torch(tmp_path):
    np.save(tmp_path / "g.npy", np.random.default_rng(0).exponential(size=(4, 20, 20)) * 1e-9)
    loaded = _modules_after(
        "from rrm.cli import main\n"
        f"assert main(['solve', '--policy', 'wmmse', '--gains', {str(tmp_path / 'g.npy')!r}, "
        f"'--out', {str(tmp_path / 'p.npy')!r}]) == 0")
    assert (tmp_path / "p.npy").is_file()
    assert "torch" not in loaded and "matplotlib" not in loaded and "h5py" not in loaded


@pytest.mark.parametrize("name", ["wmmse", "wmmse-best", "full-reuse", "oracle", "pc-wmmse",
                                  "fc-zf"])
def test_classical_policies_are_made_without_torch(name):
    loaded = _modules_after(f"from rrm.models.policy import make_policy\nmake_policy({name!r})")
    assert "torch" not in loaded and "cvxpy" not in loaded
