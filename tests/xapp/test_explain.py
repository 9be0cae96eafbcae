"""``rrm explain`` and the xApp's explanations: rate costs from the physics, guard values
that agree with the guards, attention rows of the backbone, files and HTTP answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from rrm.cli import main
from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.xapp.explain import DecidedSlot, explain, guard_values, interferer_costs
from rrm.xapp.explain_observer import EXPLAIN_PATH, ExplainObserver, bounded_json
from rrm.xapp.guards import DecisionContext, GuardConfig, check_decision
from rrm.xapp.health import HealthState, serve_health
from tests.xapp.recorded import record


def random_state(k: int, seed: int = 0) -> InterferenceState:
    rng = np.random.default_rng(seed)
    gains = rng.exponential(1e-2, (k, k)) + np.eye(k) * 0.5
    return InterferenceState(gains, 1e-3, 1.0)


def test_interferer_cost_is_the_rate_gained_when_that_transmitter_is_silent():
    state = random_state(6)
    power = np.random.default_rng(1).uniform(0.1, 1.0, 6)
    cost = interferer_costs(state.gains, power, state.noise_per_link)
    base = physics.rates(state.gains, power, state.noise_per_link)
    for j in range(6):
        silent = power.copy()
        silent[j] = 0.0
        brute = physics.rates(state.gains, silent, state.noise_per_link) - base
        others = np.arange(6) != j
        np.testing.assert_allclose(cost[others, j], brute[others], rtol=1e-9, atol=1e-12)
        assert cost[j, j] == 0.0


def test_guard_values_trip_exactly_when_the_guards_do():
    state, objective = random_state(5), get_objective("sum")
    cfg = GuardConfig(utility_margin=0.05)
    for power, expected in ((np.ones(5), ""), (np.full(5, 1e-6), "utility")):
        d = DecidedSlot("n", 1, state, objective, power, "p")
        rows = {r["guard"]: r for r in guard_values(d, cfg)}
        verdict = check_decision(DecisionContext(state, PowerAllocation(power), objective,
                                                 0.0, 1.0), cfg)
        assert verdict.guard == expected
        assert all(r["passed"] for g, r in rows.items() if g != "utility")
        assert rows["utility"]["passed"] == (expected == "")


def test_explanation_lists_links_with_wmmse_and_top_interferers():
    state, objective = random_state(6), get_objective("sum")
    power = np.linspace(0.2, 1.0, 6)
    out = explain(DecidedSlot("n", 3, state, objective, power, "x"), power[::-1], GuardConfig(),
                  top=2)
    assert out["K"] == 6 and len(out["links"]) == 6
    first = out["links"][0]
    assert first["wmmse_power_w"] == pytest.approx(1.0) and len(first["interferers"]) == 2
    costs = [i["rate_cost"] for i in first["interferers"]]
    assert costs == sorted(costs, reverse=True) and 0 not in [i["tx"] for i in first["interferers"]]
    assert out["utility"] == pytest.approx(float(np.sum(physics.rates(
        state.gains, power, state.noise_per_link))), rel=1e-6)


def test_attention_rows_are_softmax_weights_and_leave_the_model_unchanged():
    import torch

    from rrm.models.gfm.features import graph_batch
    from rrm.models.gfm.probe import link_attention, load_for_probe

    model = load_for_probe(None, "sum")
    assert model is not None
    state = random_state(7)
    g = torch.from_numpy(state.gains[None])
    batch = graph_batch(g, 1e-3, 1.0)
    with torch.inference_mode():
        before = model.backbone(batch)
    layers = link_attention(model, state, 2)
    with torch.inference_mode():
        after = model.backbone(batch)
    assert len(layers) == len(model.backbone.layers)
    for layer in layers:
        assert layer.attention.shape == layer.bias.shape == (model.backbone.cfg.heads, 7)
        np.testing.assert_allclose(layer.attention.sum(axis=1), 1.0, rtol=1e-5)
    assert torch.equal(before, after) and not model.backbone.layers[0].attention._forward_hooks


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    return record(tmp_path_factory.mktemp("explain") / "run.rrmtrace", slots=6)


def test_cli_explains_a_recorded_slot_as_json_and_draws_the_graph(trace, tmp_path, capsys):
    png = tmp_path / "graph.png"
    assert main(["explain", str(trace), "--slot", "2", "--json", "--out", str(png)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["slot"] == 2 and out["node"] == "n0" and out["policy"] == "wmmse"
    assert len(out["links"]) == out["K"] == 8 and out["utility_wmmse"] >= 0
    assert {r["guard"] for r in out["guards"]} >= {"budget", "utility", "deadline"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["explain", str(trace), "--slot", "2", "--link", "3"]) == 0
    text = capsys.readouterr().out
    assert "guards (measured / threshold)" in text and "top interferers" in text


@pytest.mark.parametrize("argv, message", [
    (["--slot", "999"], "no recorded slot 999"),
    (["--slot", "1", "--link", "8"], "--link must be in [0, 7]"),
    (["--slot", "1", "--node", "zz"], "for node 'zz'"),
])
def test_cli_refuses_bad_input_in_one_line(trace, capsys, argv, message):
    assert main(["explain", str(trace), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_xapp_serves_the_latest_explanation_per_node_over_http(tmp_path):
    kept: list[ExplainObserver] = []

    def observers(app):
        kept.append(ExplainObserver(app.decider))
        return kept

    record(tmp_path / "t.rrmtrace", slots=4, observers=observers)
    server, port = serve_health(HealthState(), __import__("prometheus_client").CollectorRegistry(),
                                host="127.0.0.1", port=0, routes={EXPLAIN_PATH: kept[0].route})
    try:
        base = f"http://127.0.0.1:{port}{EXPLAIN_PATH}"
        assert json.loads(urllib.request.urlopen(base).read()) == {"nodes": ["n0"]}
        body = json.loads(urllib.request.urlopen(base + "/n0").read())
        assert body["node"] == "n0" and body["slot"] == 3 and len(body["links"]) == 8
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/nope")
        assert err.value.code == 404
    finally:
        server.shutdown()


def test_explanations_are_cut_to_the_size_bound():
    state, objective = random_state(60), get_objective("sum")
    out = explain(DecidedSlot("n", 1, state, objective, np.ones(60), "x"), None, GuardConfig())
    body = bounded_json(out, limit=4000)
    assert len(body) <= 4000
    cut = json.loads(body)
    assert cut["truncated"]["links_left_out"] == 60 - len(cut["links"]) > 0


def test_a_fast_poller_gets_the_cached_explanation_until_the_interval_passes(tmp_path):
    kept: list[ExplainObserver] = []
    now = [100.0]

    def observers(app):
        kept.append(ExplainObserver(app.decider, min_interval_s=1.0, clock=lambda: now[0]))
        return kept

    record(tmp_path / "t.rrmtrace", slots=2, observers=observers)
    explainer = kept[0]
    first = json.loads(explainer.body("n0") or b"{}")
    ind, decision = explainer._latest["n0"]
    newer = ind.__class__(**{**ind.__dict__, "header": ind.header.__class__(
        **{**ind.header.__dict__, "sequence_number": ind.header.sequence_number + 1,
           "slot": ind.header.slot + 1})})
    explainer._latest["n0"] = (newer, decision)
    now[0] += 0.5  # a poll within the interval: the decision explained before
    assert json.loads(explainer.body("n0") or b"{}")["slot"] == first["slot"]
    now[0] += 0.6  # past it: the newer decision
    assert json.loads(explainer.body("n0") or b"{}")["slot"] == first["slot"] + 1
