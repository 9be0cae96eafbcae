"""The cell-free environment and node: seeded channels, realised rates, beamforming controls."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core import cellfree_physics as cfp
from rrm.core.errors import ConfigError
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, CellFreeState, PowerAllocation
from rrm.core.wire.messages import Cause, ControlMsg, Outcome
from rrm.sim.cellfree_env import CellFreeEnv
from rrm.sim.fading import FadingProcess
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree


def test_same_seed_same_channels_and_shapes() -> None:
    cfg = CellFreeConfig(num_aps=5, num_ues=3)
    a, b = CellFreeEnv(cfg, Objective("sum")), CellFreeEnv(cfg, Objective("sum"))
    oa, ob = a.reset(seed=4), b.reset(seed=4)
    np.testing.assert_array_equal(oa.true_state.h, ob.true_state.h)
    assert oa.true_state.h.shape == (5, 3, 2)
    nxt = a.advance()
    assert nxt.slot == 1 and not np.array_equal(nxt.true_state.h, oa.true_state.h)
    assert nxt.topology_version == oa.topology_version  # same topology without episodes


def test_realised_rates_are_the_physics_and_gauss_markov_is_correlated() -> None:
    cfg = CellFreeConfig(num_aps=4, num_ues=2)
    env = CellFreeEnv(cfg, Objective("sum"), rho=0.99)
    obs = env.reset(seed=1)
    alloc = env.default_allocation()
    assert np.all(cfp.ap_power_w(alloc.v) <= cfg.pmax_w * (1 + 1e-12))
    res = env.apply(alloc)
    expected = cfp.rates(obs.true_state.h, alloc.v, alloc.x, cfg.noise_w)
    np.testing.assert_allclose(res.rates, expected)
    assert res.utility == float(expected.sum())
    nxt = env.advance().true_state.h
    rel = np.linalg.norm(nxt - obs.true_state.h) / np.linalg.norm(obs.true_state.h)
    assert rel < 0.3  # rho = 0.99: small step


def test_episodes_redraw_the_topology() -> None:
    env = CellFreeEnv(CellFreeConfig(num_aps=3, num_ues=2), Objective("sum"), episode_slots=2)
    env.reset(seed=0)
    beta = env.topology.large_scale_gain.copy()
    env.advance()
    assert np.array_equal(env.topology.large_scale_gain, beta)
    obs = env.advance()
    assert obs.topology_version == 2 and not np.array_equal(env.topology.large_scale_gain, beta)


def test_node_takes_beamforming_and_rejects_power_control_or_over_budget() -> None:
    node = build_node(NodeSpec(scenario="cellfree", catalog=None, num_links=3, num_aps=4),
                      "cf", seed=2, slot_period_s=10.0)
    assert node.info.num_links == 3 and node.info.num_aps == 4 and node.info.num_antennas == 2
    ind = node.open_slot()
    state = ind.state
    assert isinstance(state, CellFreeState) and ind.scenario == "cellfree"
    ack = node.control(ControlMsg(ind.header, PowerAllocation(np.ones(3))))
    assert ack.outcome == Outcome.REJECTED and ack.cause == Cause.INVALID_MESSAGE
    v = np.ones(state.h.shape, dtype=complex)  # 2 W per AP with 1 W budgets
    ack = node.control(ControlMsg(ind.header, BeamformingAllocation(v, np.ones((4, 3), np.int8))))
    assert ack.outcome == Outcome.REJECTED and "budget" in ack.detail
    v = v / np.sqrt(6.0)  # exactly 1 W per AP
    ack = node.control(ControlMsg(ind.header, BeamformingAllocation(v, np.ones((4, 3), np.int8))))
    assert ack.outcome == Outcome.ACCEPTED and ack.realised
    expected = cfp.rates(state.h, v, np.ones((4, 3)), state.noise_w)
    np.testing.assert_allclose(ack.rates, expected)
    result = node.close_slot()
    assert result.utility == float(expected.sum()) and node.counters["accepted"] == 1


@pytest.mark.parametrize("rho", [1.5, -1.01, float("nan")])
def test_fading_correlation_outside_minus_one_one_is_a_config_error(rho: float) -> None:
    with pytest.raises(ConfigError, match="rho"):
        CellFreeEnv(CellFreeConfig(num_aps=3, num_ues=2), Objective("sum"), rho=rho)


def test_cell_free_fading_is_the_shared_gauss_markov_process() -> None:
    cfg = CellFreeConfig(num_aps=3, num_ues=2)
    env = CellFreeEnv(cfg, Objective("sum"), rho=0.7, episode_slots=0)
    h0 = env.reset(seed=9).true_state.h
    h1 = env.advance().true_state.h
    rng = np.random.default_rng(9)
    beta = generate_cellfree(cfg, 1, rng).large_scale_gain[0]
    fading = FadingProcess(0.7)
    g0 = fading.reset_amplitude(rng, (*beta.shape, cfg.num_antennas))
    np.testing.assert_array_equal(h0, np.sqrt(beta)[..., None] * g0)
    np.testing.assert_array_equal(h1, np.sqrt(beta)[..., None] * fading.step_amplitude())
