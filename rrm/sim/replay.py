"""Serving a recorded trace as an E2 node.

:class:`ReplayEnv` plays the recorded indications of one node back, slot by
slot, through the same :class:`rrm.sim.node.SimNode` and
:class:`rrm.sim.simulator.Simulator` that serve live simulations, so an xApp
cannot tell a replay from a live node except by the data. Realised rates
are computed on the recorded (as reported) CSI.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.trace import RecordKind, iter_records
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_control, decode_indication
from rrm.core.wire.messages import ControlMsg, IndicationMsg
from rrm.sim.env import Observation, StepResult, Topology


@dataclass(frozen=True)
class RecordedSlot:
    """One recorded indication and the control that answered it (if recorded)."""

    indication: IndicationMsg
    control: ControlMsg | None


def load_recorded_slots(path: str | Path) -> dict[str, list[RecordedSlot]]:
    """Recorded slots per node id, in order; controls matched by (node, sequence number)."""
    indications: dict[str, list[IndicationMsg]] = defaultdict(list)
    controls: dict[tuple[str, int], ControlMsg] = {}
    for rec in iter_records(path):
        if rec.kind == RecordKind.INDICATION:
            msg = pb.Indication()
            msg.ParseFromString(rec.payload)
            ind = decode_indication(msg)
            indications[ind.header.node_id].append(ind)
        elif rec.kind == RecordKind.CONTROL:
            cmsg = pb.ControlRequest()
            cmsg.ParseFromString(rec.payload)
            c = decode_control(cmsg)
            controls[(c.header.node_id, c.header.sequence_number)] = c
    if not indications:
        raise InvalidInput(f"trace {str(path)!r} holds no indications")
    return {node: [RecordedSlot(i, controls.get((node, i.header.sequence_number))) for i in inds]
            for node, inds in indications.items()}


class ReplayEnv:
    """An environment whose slots are recorded indications (d2d / ergodic)."""

    def __init__(self, slots: list[RecordedSlot], objective: Objective) -> None:
        for s in slots:
            if not isinstance(s.indication.state, InterferenceState):
                raise InvalidInput("replay supports d2d and ergodic traces")
        self.slots = slots
        self.objective = objective
        self.index = 0
        self.exhausted = False

    @property
    def topology(self) -> Topology:
        """The recorded slot's budgets and (for ergodic) large-scale state."""
        ind = self.slots[min(self.index, len(self.slots) - 1)].indication
        state = ind.state
        assert isinstance(state, InterferenceState)
        k = state.num_links
        large = ind.ergodic.large_scale if ind.ergodic else state.gains
        f_min = ind.ergodic.f_min if ind.ergodic else np.zeros(k)
        pmax = np.broadcast_to(np.asarray(state.pmax_w, dtype=np.float64), (k,)).copy()
        return Topology(large, float(np.mean(state.noise_w)), pmax, f_min)

    def reset(self, *, seed: int | None = None) -> Observation:
        """Back to the first recorded slot (the seed is irrelevant to a replay)."""
        self.index, self.exhausted = 0, False
        return self.observation

    @property
    def observation(self) -> Observation:
        """The current recorded slot."""
        ind = self.slots[min(self.index, len(self.slots) - 1)].indication
        assert isinstance(ind.state, InterferenceState)
        version = ind.ergodic.topology_version if ind.ergodic else 0
        return Observation(ind.header.slot, ind.state, ind.state, version)

    def realise(self, allocation: PowerAllocation) -> StepResult:
        """Rates and utility on the recorded CSI."""
        s = self.observation.true_state
        rates = physics.rates(s.gains, allocation.power_w, s.noise_w)
        return StepResult(self.observation.slot, rates, float(self.objective.utility(rates)))

    def advance(self) -> Observation:
        """Next recorded slot; sets ``exhausted`` after the last one."""
        if self.index + 1 >= len(self.slots):
            self.exhausted = True
        else:
            self.index += 1
        return self.observation

    def full_power(self) -> PowerAllocation:
        """Every link at its budget."""
        return PowerAllocation(self.topology.pmax_w.copy())
