"""The checkable `rrm diffusion eval --pairs` run: fresh networks, four policies, one JSON line."""

import json

import numpy as np
import pytest

from rrm.cli import main
from rrm.core import physics
from rrm.models.diffusion.check import CheckConfig, check_policies, draw_networks, expert_for
from rrm.models.diffusion.evaluate import cumulative_rates
from rrm.models.diffusion.model import load_diffusion
from rrm.models.diffusion.schedule import DdimConfig
from rrm.sim.scenarios.ergodic import DENSITIES_PER_KM2

TINY = ["--pairs", "5", "--networks", "3", "--f-min", "0.5", "--seed", "4", "--slots", "10",
        "--samples", "3", "--ddim-steps", "4", "--expert-iterations", "30", "--threads", "1"]


def test_networks_round_robin_over_densities_and_deterministic():
    a, b = draw_networks(6, 6, seed=2), draw_networks(6, 6, seed=2)
    assert a.large_scale.shape == (6, 6, 6)
    np.testing.assert_array_equal(a.large_scale, b.large_scale)
    assert sorted(a.density.tolist()) == sorted(
        [DENSITIES_PER_KM2[i % 4] for i in range(6)])
    assert not np.array_equal(a.large_scale, draw_networks(6, 6, seed=3).large_scale)


def test_expert_for_keeps_window_and_samples_inside_iterations():
    cfg = expert_for(30)
    assert (cfg.iterations, cfg.window, cfg.samples) == (30, 10, 10)
    assert expert_for(6000).window == 1000 and expert_for(6000).samples == 200


def test_full_power_matches_a_slot_by_slot_brute_force():
    nets = draw_networks(4, 2, seed=0)
    rng = np.random.default_rng(7)
    cum = cumulative_rates(nets.large_scale, np.ones((2, 1, 4)), nets.noise_w, nets.pmax_w,
                           5, np.random.default_rng(7))
    total = np.zeros((2, 4))
    rng.integers(0, 1, size=(5, 2))  # one chunk of 5 slots: picks, then fading
    fading = rng.exponential(size=(5, 2, 4, 4))
    for t in range(5):
        total += physics.rates(nets.large_scale * fading[t], np.full((2, 4), nets.pmax_w),
                               nets.noise_w)
    np.testing.assert_allclose(cum[-1], total / 5, rtol=1e-12)


def test_check_policies_shapes_and_ranges():
    model, _ = load_diffusion()
    cfg = CheckConfig(5, 2, 0.5, seed=1, slots=8, samples=2, expert=expert_for(30))
    out = check_policies(model.with_ddim(DdimConfig(4, 0.2)), cfg)
    assert set(out) == {"ugnn", "expert", "ap", "fp"}
    for m in out.values():
        assert set(m) == {"p1", "p5", "mean", "feasibility"}
        assert 0 <= m["p1"] <= m["p5"] and 0 <= m["feasibility"] <= 1


def test_cli_last_line_is_the_json_contract_and_deterministic(capsys):
    assert main(["diffusion", "eval", *TINY, "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    first = json.loads(lines[-1])
    assert first["pairs"] == 5 and first["f_min"] == 0.5
    assert set(first["policies"]) == {"ugnn", "expert", "ap", "fp"}
    assert main(["diffusion", "eval", *TINY]) == 0
    text = capsys.readouterr().out.strip().splitlines()
    assert text[0].startswith("| policy") and json.loads(text[-1]) == first


@pytest.mark.parametrize("args, message", [
    (["diffusion", "eval"], "needs --pairs N"),
    (["diffusion", "eval", "--pairs", "1"], "--pairs must be >= 2"),
    (["diffusion", "eval", "--pairs", "5", "--f-min", "-1"], "--f-min must be"),
    (["diffusion", "eval", "--pairs", "5", "--expert-iterations", "2"], "--expert-iterations"),
    (["diffusion", "eval", "--pairs", "5", "--checkpoint", "/nonexistent"],
     "has no model.safetensors"),
])
def test_bad_requests_get_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
