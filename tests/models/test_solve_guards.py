"""rrm solve applies the xApp's guards per sample (distribution_shift, utility vs full
reuse), replaces tripped samples with WMMSE unless told not to, reports them, and
solves with a given checkpoint directory."""

import json

import numpy as np
import pytest

from rrm.cli import main
from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.gfm import experiments as ex
from rrm.models.gfm.policy import CHECKPOINTS
from rrm.models.policy import Policy, make_policy, register_policy
from rrm.sim.scenarios.rayleigh_ic import RayleighICConfig, generate_rayleigh_ic

RIC = RayleighICConfig(num_links=20, snr_db=30.0)  # K of D16


def solve(tmp_path, capsys, gains, *flags):
    np.save(tmp_path / "g.npy", gains)
    code = main(["solve", "--gains", str(tmp_path / "g.npy"), "--out", str(tmp_path / "p.npy"),
                 "--json", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err, np.load(tmp_path / "p.npy")


@pytest.fixture(scope="module")
def mixed():
    """4 Rayleigh-channel samples (shifted for gfm) then 4 D16 samples (typical)."""
    ric = generate_rayleigh_ic(RIC, 4, np.random.default_rng(0)) * RIC.pmax_w  # pmax 1 W
    d16 = ex.test_state("D16", 4)
    k = RIC.num_links
    scale = d16.pmax_w / d16.noise_w  # same noise and budget for both: noise 1, pmax 1
    return np.concatenate([ric, d16.gains[:, :k, :k] * scale])


def test_shifted_samples_are_replaced_by_wmmse_and_reported(tmp_path, capsys, mixed):
    code, summary, err, power = solve(tmp_path, capsys, mixed, "--policy", "gfm",
                                      "--noise-w", "1", "--pmax-w", "1")
    assert code == 0
    shifted = [s["index"] for s in summary["guards"]["samples"]
               if s["guard"] == "distribution_shift"]
    assert shifted == [0, 1, 2, 3]
    assert all(s["shift_score"] > 8 for s in summary["guards"]["samples"][:4])
    assert summary["guards"]["replaced"] == summary["guards"]["tripped"] >= 4
    assert "sample 0: guard distribution_shift tripped" in err
    state = InterferenceState(mixed[:4], 1.0, 1.0)
    wmmse = make_policy("wmmse").decide(state, get_objective("sum")).power_w
    np.testing.assert_allclose(power[:4], wmmse, rtol=1e-9)


def test_no_fallback_keeps_the_policys_powers_but_still_reports(tmp_path, capsys, mixed):
    code, summary, err, power = solve(tmp_path, capsys, mixed, "--policy", "gfm",
                                      "--noise-w", "1", "--pmax-w", "1", "--no-fallback")
    assert code == 0 and summary["guards"]["tripped"] >= 4 and summary["guards"]["replaced"] == 0
    state = InterferenceState(mixed, 1.0, 1.0)
    np.testing.assert_allclose(power, make_policy("gfm").decide(state, get_objective("sum"))
                               .power_w, rtol=1e-6)
    assert "kept (--no-fallback)" in err


def test_worse_than_full_reuse_trips_the_utility_guard_for_any_policy(tmp_path, capsys):
    gains = np.eye(4)[None] * 1e-9 + 1e-13  # strong direct links: full power is best
    class Silent(Policy):
        def decide(self, state, objective):
            return PowerAllocation(np.full(np.shape(state.gains)[:-1], 1e-9))

    register_policy("silent-test")(lambda *, name: Silent(name))
    code, summary, err, power = solve(tmp_path, capsys, gains, "--policy", "silent-test")
    assert code == 0 and summary["guards"]["counts"] == {"utility": 1}
    assert "guard utility tripped" in err
    full = physics.rates(gains, np.full((1, 4), 0.01), 4e-14).sum()
    assert physics.rates(gains, power[None], 4e-14).sum() >= 0.95 * full


def test_typical_samples_pass_silently(tmp_path, capsys):
    d18 = ex.test_state("D18", 3)
    code, summary, err, _ = solve(tmp_path, capsys, d18.gains, "--policy", "gfm")
    assert code == 0 and summary["guards"]["tripped"] == 0 and err == ""
    assert summary["shift_score"]["max"] < 8


def test_checkpoint_directory_is_the_model_that_decides(tmp_path, capsys):
    d18 = ex.test_state("D18", 3)
    switch = CHECKPOINTS / "gfm-small-switch"
    code, summary, _, power = solve(tmp_path, capsys, d18.gains, "--checkpoint", str(switch),
                                    "--shift-threshold", "-1", "--utility-margin", "-1")
    assert code == 0 and summary["policy"] == "gfm" and summary["checkpoint"] == str(switch)
    expected = make_policy("gfm", checkpoint=str(switch)).decide(d18, get_objective("sum"))
    np.testing.assert_allclose(power, expected.power_w, rtol=1e-6)
    plain = make_policy("gfm").decide(d18, get_objective("sum")).power_w  # gfm-small-sum
    assert not np.allclose(power, plain)


@pytest.mark.parametrize("flags, message", [
    (["--checkpoint", "/nonexistent"], "is not a directory"),
    (["--policy", "wmmse", "--checkpoint", str(CHECKPOINTS / "gfm-small-sum")],
     "does not load checkpoints"),
    ([], "--policy is required"),
    (["--checkpoint", str(CHECKPOINTS / "gfm-small-pretrained")], "not a fine-tuned"),
])
def test_bad_checkpoint_use_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    np.save(tmp_path / "g.npy", np.eye(3) * 1e-9)
    code = main(["solve", "--gains", str(tmp_path / "g.npy"), "--out", str(tmp_path / "p.npy"),
                 *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
