"""Every environment keeps the one contract a node serves (rrm.sim.contract.Env)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, PowerAllocation
from rrm.core.validation import Violation
from rrm.sim.cellfree_env import CellFreeEnv
from rrm.sim.contract import Env
from rrm.sim.env import InterferenceEnv, Topology
from rrm.sim.fading import FadingProcess
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.replay import RecordedSlot, ReplayEnv
from rrm.sim.scenarios.cellfree import CellFreeConfig

K = 3
SIM = Path(__file__).parents[2] / "rrm" / "sim"


def _topology(rng: np.random.Generator) -> Topology:
    return Topology(rng.exponential(size=(K, K)), 1e-3, np.full(K, 0.5), np.full(K, 0.6))


def _interference() -> InterferenceEnv:
    return InterferenceEnv(_topology, FadingProcess(0.3), Objective("sum"), ergodic=True)


def _cellfree() -> CellFreeEnv:
    return CellFreeEnv(CellFreeConfig(num_aps=4, num_ues=K), Objective("sum"), rho=0.5)


def _replay() -> ReplayEnv:
    node = build_node(NodeSpec(scenario="ergodic", num_links=K), "n0", seed=1, slot_period_s=1.0)
    slots = []
    for _ in range(3):
        slots.append(RecordedSlot(node.open_slot(), None))
        node.close_slot()
    return ReplayEnv(slots, Objective("sum"))


ENVS = {"interference": _interference, "cellfree": _cellfree, "replay": _replay}


@pytest.fixture(params=sorted(ENVS))
def env(request: pytest.FixtureRequest) -> Env[Any, Any]:
    made: Env[Any, Any] = ENVS[request.param]()
    return made


def test_reset_observe_apply_advance_step_keep_their_promises(env: Env[Any, Any]) -> None:
    first = env.reset(seed=0)
    assert env.observe().true_state is first.true_state and not env.exhausted
    default = env.default_allocation()
    result = env.apply(default)
    assert result.slot == first.slot and result.rates.shape == (K,)
    assert np.isfinite(result.utility)
    assert env.observe().true_state is first.true_state  # apply changes nothing
    again, nxt = env.step(default)
    np.testing.assert_array_equal(again.rates, result.rates)
    assert nxt.true_state is env.observe().true_state and nxt.slot == first.slot + 1
    assert env.advance().slot == first.slot + 2


def test_the_default_allocation_is_admitted_and_the_other_kind_is_not(env: Env[Any, Any]) -> None:
    env.reset(seed=0)
    default = env.default_allocation()
    admitted = env.admit(default)
    assert type(admitted) is type(default)
    other = (BeamformingAllocation(np.zeros((1, K, 1), complex), np.zeros((1, K), np.int8))
             if isinstance(default, PowerAllocation) else PowerAllocation(np.zeros(K)))
    violation = env.admit(other)
    assert isinstance(violation, Violation) and violation.rule == "kind"


def test_sizes_and_extras_describe_the_current_slot(env: Env[Any, Any]) -> None:
    obs = env.reset(seed=0)
    assert env.sizes.num_links == K
    extras = env.extras(0.05)
    if extras is not None:
        assert extras.large_scale.shape == (K, K) and extras.slot_duration_s == 0.05
        assert extras.topology_version == obs.topology_version


def test_only_a_replay_runs_out() -> None:
    replay = _replay()
    replay.reset()
    assert not replay.exhausted
    for _ in range(3):
        replay.advance()
    assert replay.exhausted
    generated = [_interference(), _cellfree()]
    for g in generated:
        g.reset(seed=0)
        for _ in range(5):
            g.advance()
    assert not any(g.exhausted for g in generated)


def test_nothing_in_the_simulator_probes_which_environment_it_has() -> None:
    probes = re.compile(r"getattr\(\s*(self\.)?(n\.)?env|isinstance\(\s*(self\.)?env|hasattr\(")
    hits = [f"{p.name}: {line.strip()}" for p in SIM.rglob("*.py")
            for line in p.read_text().splitlines() if probes.search(line)]
    assert hits == []


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 1.0 + 0.5e-6, 1.0 + 2e-6, -1e-9, np.nan, np.inf])
def test_interference_admit_agrees_with_admit_power(scale: float) -> None:
    """The node's one-check fast path admits exactly what admit_power admits, and the same way."""
    from rrm.core.validation import admit_power

    env = build_node(NodeSpec(num_links=6), "n", 3, 0.01).env
    pmax = env.observe().reported.pmax_per_link
    for power in (pmax * scale, np.where(np.arange(6) == 2, pmax * scale, pmax * 0.5)):
        fast, slow = env.admit(PowerAllocation(power)), admit_power(PowerAllocation(power),
                                                                    env.observe().reported)
        assert type(fast) is type(slow)
        if isinstance(slow, Violation):
            assert fast == slow
        else:
            assert fast.power_w.tobytes() == slow.power_w.tobytes()  # type: ignore[union-attr]
    assert isinstance(env.admit(PowerAllocation(pmax[:5] * 0.5)), Violation)  # wrong shape


@pytest.mark.parametrize("spec", [NodeSpec(num_links=50), NodeSpec(num_links=7, csi_loss=0.3),
                                  NodeSpec(scenario="ergodic", num_links=9, episode_slots=3)])
def test_interference_apply_is_physics_rates_bit_for_bit(spec: NodeSpec) -> None:
    """apply()'s rates take fewer numpy calls than physics.rates and give the same bytes."""
    from rrm.core import physics

    env, rng = build_node(spec, "n", 3, 0.01).env, np.random.default_rng(1)
    for _ in range(8):  # across slots and topologies: the per-slot direct-gain view follows
        s = env.observe().true_state
        for power in (rng.uniform(0, 1, s.num_links) * s.pmax_per_link, s.pmax_per_link * 0.0):
            got = env.apply(PowerAllocation(power))
            assert got.rates.tobytes() == physics.rates(s.gains, power, s.noise_w).tobytes()
            assert got.utility == float(env.objective.utility(got.rates))
        env.advance()
