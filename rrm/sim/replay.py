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

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.trace import RecordKind, iter_records
from rrm.core.types import Allocation, InterferenceState, PowerAllocation
from rrm.core.validation import Violation, admit_power
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_control, decode_indication
from rrm.core.wire.messages import ControlMsg, ErgodicExtras, IndicationMsg
from rrm.sim.contract import EnvSizes, Observation, StepResult


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
    """An environment whose slots are recorded indications (d2d / ergodic; an ``Env``)."""

    def __init__(self, slots: list[RecordedSlot], objective: Objective) -> None:
        if not slots:
            raise InvalidInput("a replay needs at least one recorded slot")
        self.states: list[InterferenceState] = []
        for s in slots:
            if not isinstance(s.indication.state, InterferenceState):
                raise InvalidInput("replay supports d2d and ergodic traces")
            self.states.append(s.indication.state)
        self.slots = slots
        self.objective = objective
        self.index = 0
        self.exhausted = False

    def _current(self) -> tuple[IndicationMsg, InterferenceState]:
        i = min(self.index, len(self.slots) - 1)
        return self.slots[i].indication, self.states[i]

    def reset(self, *, seed: int | None = None) -> Observation[InterferenceState]:
        """Back to the first recorded slot (the seed is irrelevant to a replay)."""
        self.index, self.exhausted = 0, False
        return self.observe()

    def observe(self) -> Observation[InterferenceState]:
        """The current recorded slot."""
        ind, state = self._current()
        version = ind.ergodic.topology_version if ind.ergodic else 0
        return Observation(ind.header.slot, state, state, version)

    @property
    def sizes(self) -> EnvSizes:
        """K of the recorded slot."""
        return EnvSizes(self._current()[1].num_links)

    def apply(self, allocation: PowerAllocation) -> StepResult:
        """Rates and utility on the recorded CSI."""
        obs = self.observe()
        s = obs.true_state
        rates = physics.rates(s.gains, allocation.power_w, s.noise_w)
        return StepResult(obs.slot, rates, float(self.objective.utility(rates)))

    def advance(self) -> Observation[InterferenceState]:
        """Next recorded slot; sets ``exhausted`` after the last one."""
        if self.index + 1 >= len(self.slots):
            self.exhausted = True
        else:
            self.index += 1
        return self.observe()

    def step(self, allocation: PowerAllocation
             ) -> tuple[StepResult, Observation[InterferenceState]]:
        """Apply ``allocation`` to the recorded slot, then advance."""
        result = self.apply(allocation)
        return result, self.advance()

    def default_allocation(self) -> PowerAllocation:
        """Every link at its recorded budget."""
        return PowerAllocation(self._current()[1].pmax_per_link.copy())

    def admit(self, decision: Allocation) -> PowerAllocation | Violation:
        """``decision`` checked against the recorded budgets (:func:`admit_power`)."""
        return admit_power(decision, self._current()[1])

    def extras(self, slot_duration_s: float) -> ErgodicExtras | None:
        """The recorded large-scale gains, minimum rates and topology version (ergodic),
        reported with ``slot_duration_s`` as a live node would."""
        ex = self._current()[0].ergodic
        if ex is None:
            return None
        return ErgodicExtras(ex.large_scale, ex.f_min, ex.topology_version, slot_duration_s)
