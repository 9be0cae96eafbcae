"""The shift score: closed-form descriptors, the Mahalanobis distance, stored statistics,
and what the shipped checkpoints make of a family they never saw."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rrm.core.errors import CheckpointError
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.checkpoint import sha256_of
from rrm.models.gfm import experiments as ex
from rrm.models.gfm.policy import CHECKPOINTS
from rrm.models.gfm.shift import DESCRIPTORS, ShiftStats, descriptors, fit_stats
from rrm.models.policy import SHIFT_THRESHOLD, make_policy
from rrm.sim.scenarios.rayleigh_ic import RayleighICConfig, generate_rayleigh_ic


def db(x):
    return 10 * np.log10(x)


def test_descriptors_match_their_closed_form_on_two_links():
    gains = np.array([[[4.0, 0.5], [0.25, 2.0]]])  # rx k from tx j
    d = descriptors(gains, noise_w=0.1, pmax_w=1.0)[0]
    direct = db(np.array([40.0, 20.0]))
    cross = db(np.array([5.0, 2.5]))
    sinr = db(np.array([4.0 / 0.6, 2.0 / 0.35]))
    expected = [direct.mean(), direct.std(), cross.mean(), cross.std(), sinr.mean(), sinr.std()]
    np.testing.assert_allclose(d, expected, rtol=1e-12)


def test_unreported_cross_links_are_left_out_of_the_descriptors():
    gains = np.array([[[4.0, 0.5], [0.25, 2.0]]])
    mask = np.array([[[True, False], [True, True]]])  # tx 1 -> rx 0 unknown
    d = descriptors(gains, 0.1, 1.0, mask)[0]
    assert d[2] == pytest.approx(db(2.5)) and d[3] == pytest.approx(0.0)
    assert d[4] == pytest.approx(np.mean(db(np.array([40.0, 2.0 / 0.35]))))


def test_the_score_is_the_mahalanobis_distance_and_zero_at_the_mean():
    rng = np.random.default_rng(0)
    sets = [(rng.exponential(size=(200, k, k)) * np.exp(rng.normal(size=(200, 1, 1))), 0.1, 1.0)
            for k in (5, 8)]
    stats = fit_stats(sets, "test")
    d = np.concatenate([descriptors(*s) for s in sets])
    diff = d - d.mean(0)
    brute = np.sqrt(np.einsum("ni,ij,nj->n", diff, np.linalg.inv(np.cov(d, rowvar=False)), diff))
    np.testing.assert_allclose(stats.score_descriptors(d), brute, rtol=1e-6)
    assert stats.score_descriptors(stats.mean[None])[0] == pytest.approx(0.0, abs=1e-9)
    assert stats.k_range == (5, 8) and stats.n == 400
    assert stats.score_quantiles[-1] == pytest.approx(brute.max())


def test_statistics_survive_a_json_round_trip_and_bad_ones_are_refused():
    rng = np.random.default_rng(1)
    stats = fit_stats([(rng.exponential(size=(50, 6, 6)), 1.0, 10.0)], "x")
    back = ShiftStats.from_json(json.loads(json.dumps(stats.to_json())))
    g = rng.exponential(size=(7, 6, 6))
    np.testing.assert_allclose(back.score(g, 1.0, 10.0), stats.score(g, 1.0, 10.0))
    broken = stats.to_json() | {"mean": [0.0] * (len(DESCRIPTORS) - 1)}
    with pytest.raises(CheckpointError, match="shift_stats"):
        ShiftStats.from_json(broken)


@pytest.fixture(scope="module")
def rayleigh():
    cfg = RayleighICConfig(num_links=20, snr_db=30.0)
    g = generate_rayleigh_ic(cfg, 40, np.random.default_rng(2))
    return InterferenceState(g, cfg.noise_w, cfg.pmax_w)


@pytest.mark.parametrize("name", ["gfm-small-sum", "gfm-small-switch", "pcgnn-small-switch"])
def test_shipped_fine_tuned_checkpoints_carry_statistics_of_their_training_data(name):
    meta = json.loads((CHECKPOINTS / name / "metadata.json").read_text())
    stats = ShiftStats.from_json(meta["shift_stats"])
    assert stats.n == 5 * 2048 and stats.k_range == (20, 80)
    assert stats.source == "D16-D20/train[:2048] seed 0"


def test_gfm_scores_a_rayleigh_channel_far_outside_and_d18_inside(rayleigh):
    policy = make_policy("gfm")
    assert np.all(policy.shift_score(rayleigh) > SHIFT_THRESHOLD)
    d18 = ex.test_state("D18", 40)
    assert np.all(policy.shift_score(d18) < SHIFT_THRESHOLD)
    one = InterferenceState(d18.gains[3], d18.noise_w, d18.pmax_w)
    assert np.ndim(policy.shift_score(one)) == 0
    assert float(policy.shift_score(one)) == pytest.approx(policy.shift_score(d18)[3])


def test_gfm_wmmse_runs_a_full_wmmse_on_shifted_snapshots_only(rayleigh):
    obj = get_objective("sum")
    d18 = ex.test_state("D18", 3)
    k = 20
    mixed = InterferenceState(np.concatenate([rayleigh.gains[:2], d18.gains[:2, :k, :k]]),
                              np.array([[1.0] * k] * 2 + [[d18.noise_w] * k] * 2),
                              np.array([[rayleigh.pmax_w] * k] * 2 + [[d18.pmax_w] * k] * 2))
    policy = make_policy("gfm-wmmse")
    scores = policy.shift_score(mixed)
    assert list(scores > SHIFT_THRESHOLD) == [True, True, False, False]
    got = policy.decide(mixed, obj).power_w
    full = make_policy("wmmse").decide(mixed, obj).power_w
    np.testing.assert_allclose(got[:2], full[:2], rtol=1e-9)
    trusting = make_policy("gfm-wmmse", shift_threshold=1e9).decide(mixed, obj).power_w
    np.testing.assert_allclose(got[2:], trusting[2:], rtol=1e-9)
    assert not np.allclose(got[:2], trusting[:2])


def test_stats_command_writes_statistics_and_leaves_the_weights_alone(tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINTS / "gfm-small-sum", ckpt)
    meta = json.loads((ckpt / "metadata.json").read_text())
    meta.pop("shift_stats")
    meta["data"]["train"] = "D16/train[:64]"
    (ckpt / "metadata.json").write_text(json.dumps(meta))
    before = sha256_of(ckpt / "model.safetensors")
    out = subprocess.run([sys.executable, "-m", "rrm", "gfm", "stats", "--checkpoint", str(ckpt),
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    stats = ShiftStats.from_json(json.loads(out.stdout.splitlines()[-1]))
    assert stats.n == 64 and stats.k_range == (20, 20)
    written = json.loads((ckpt / "metadata.json").read_text())
    assert written["shift_stats"] == stats.to_json()
    assert sha256_of(ckpt / "model.safetensors") == before == written["sha256"]
    make_policy("gfm", checkpoint=str(ckpt))  # still loads


def test_stats_command_refuses_a_backbone_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "rrm", "gfm", "stats", "--checkpoint",
                          str(CHECKPOINTS / "gfm-small-pretrained")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "not a fine-tuned GFM checkpoint" in out.stderr
    assert "Traceback" not in out.stderr
