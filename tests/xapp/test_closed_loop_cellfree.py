"""The slot loop on a cell-free node in one process: EGAT decides, guards check per-AP
power and fronthaul, a violation falls back (pc-wmmse or heuristic scaling) and is counted."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core import cellfree_physics as cfp
from rrm.core.types import BeamformingAllocation, CellFreeState
from rrm.core.wire.messages import SubscribeMsg
from rrm.models.policy import Policy, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.inproc import InProcessClient


class Overloading(Policy):
    """Every AP serves every UE at full power: power-feasible, fronthaul-infeasible."""

    def __init__(self) -> None:
        super().__init__("overloading")

    def decide(self, state: CellFreeState, objective: object) -> BeamformingAllocation:  # type: ignore[override]
        h = state.h
        v = h / np.linalg.norm(h, axis=-1, keepdims=True) / np.sqrt(h.shape[1])
        return BeamformingAllocation(v, np.ones(h.shape[:-1], dtype=np.int8))


def run_loop(policy: object, mode: str, slots: int = 12, aps: int = 8, ues: int = 4):
    node = build_node(NodeSpec(scenario="cellfree", catalog=None, num_links=ues, num_aps=aps),
                      "cf0", seed=3, slot_period_s=5.0)
    sim = Simulator([node], slot_period_s=5.0, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    decider = Decider(policy, make_policy("wmmse"), GuardConfig(), "sum",  # type: ignore[arg-type]
                      cellfree_fallback=mode)
    loop = SlotLoop(client, decider, XAppMetrics(), HealthState())
    sim.start()
    controls, states = [], []
    try:
        while loop.stats.slots < slots:
            raw = client.next_indication(1.0)
            assert raw is not None
            states.append(raw.indication.state)
            controls.append(loop.process(raw))
    finally:
        sim.stop()
        decider.close()
    return node, loop, controls, states


def _feasible(state: CellFreeState, d: BeamformingAllocation) -> bool:
    return bool(cfp.feasible(state.h, d.v, d.x, state.noise_w, state.pmax_w,
                             state.fronthaul_bps, state.bandwidth_hz))


# Table I's size, and the largest of Tables III-IV (B = 10 APs, K = 7 UEs) together (#16 item 5)
@pytest.mark.parametrize("aps, ues", [(8, 4), (10, 7)])
def test_egat_in_the_loop_sends_feasible_beamforming_every_slot(aps: int, ues: int) -> None:
    node, loop, controls, states = run_loop(make_policy("egat"), "pc-wmmse", aps=aps, ues=ues)
    assert loop.stats.slots == loop.stats.controls == 12
    assert node.counters["accepted"] == 12 and node.counters["invalid_message"] == 0
    assert sum(loop.stats.fallbacks.values()) == sum(c.fallback_reason != "" for c in controls)
    for c, s in zip(controls, states, strict=True):
        assert isinstance(c.decision, BeamformingAllocation)
        assert np.shape(c.decision.x) == (aps, ues)
        assert _feasible(s, c.decision)
        assert c.policy == ("egat" if not c.fallback_reason else "pc-wmmse")
    realised = [r.utility for r in node.results]
    assert len(realised) == 12 and min(realised) > 0


@pytest.mark.parametrize("mode, name", [("pc-wmmse", "pc-wmmse"), ("scale", "fronthaul-scaling")])
def test_fronthaul_violation_falls_back_and_is_counted(mode: str, name: str) -> None:
    node, loop, controls, states = run_loop(Overloading(), mode, slots=6)
    assert loop.stats.fallbacks == {"fronthaul": 6}
    for c, s in zip(controls, states, strict=True):
        assert c.policy == name and c.fallback_reason == "fronthaul"
        assert _feasible(s, c.decision)
    assert node.counters["accepted"] == 6


def test_unknown_cellfree_fallback_is_a_config_error() -> None:
    from rrm.core.errors import ConfigError

    with pytest.raises(ConfigError, match="cellfree_fallback"):
        Decider(Overloading(), make_policy("wmmse"), GuardConfig(), "sum",  # type: ignore[arg-type]
                cellfree_fallback="full-power")
