"""The demo's reference comparison: the policy against WMMSE and full reuse on the same CSI.

An observer of the slot loop keeps each answered interference slot's CSI,
objective and powers (never computing on the slot's path); after the run,
:meth:`ReferenceObserver.finish` scores the kept powers, WMMSE's (batched
over slots of equal size) and full reuse's under each slot's objective.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rrm.core import physics
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire.messages import IndicationMsg
from rrm.models.policy import make_policy
from rrm.xapp.decision import Decision
from rrm.xapp.observer import LoopObserver
from rrm.xapp.transport.base import Received

REFERENCE_SLOTS = 5_000  # slots kept for the end-of-run WMMSE / full-reuse comparison
Kept = tuple[InterferenceState, Objective, np.ndarray]  # CSI, objective, powers [K] W


class ReferenceObserver(LoopObserver):
    """Keeps slots for the end-of-run comparison; builds its WMMSE only when used.

    Args:
        objective_for: the objective an indication was decided under (the decider's).
        utility: per-slot utilities are appended here by :meth:`finish` under
            ``policy``, ``wmmse`` and ``full_reuse`` (the loop's summary lists).
        max_slots: slots kept; later ones are not compared.
    """

    def __init__(self, objective_for: Callable[[IndicationMsg], Objective],
                 utility: dict[str, list[float]], max_slots: int = REFERENCE_SLOTS) -> None:
        self.objective_for = objective_for
        self.utility = utility
        self.max_slots = max_slots
        self.slots: list[Kept] = []
        self.reference_policy = make_policy("wmmse")  # the standard single-start WMMSE

    def on_decision(self, received: Received, decision: Decision) -> None:
        """Keep an interference slot answered with powers."""
        ind = received.indication
        if (ind is None or not isinstance(ind.state, InterferenceState)
                or not isinstance(decision.answer, PowerAllocation)
                or len(self.slots) >= self.max_slots):
            return
        self.slots.append((ind.state, self.objective_for(ind), decision.answer.power_w))

    def finish(self) -> None:
        """Utility of the policy, WMMSE and full reuse on the kept slots' CSI."""
        groups: dict[tuple[int, str], list[Kept]] = {}
        for state, objective, power in self.slots:
            groups.setdefault((state.num_links, repr(objective)), []).append(
                (state, objective, power))
        for items in groups.values():
            self._score(items)
        self.slots.clear()

    def _score(self, items: list[Kept]) -> None:
        """One group of equal K and objective: WMMSE in one batched call."""
        objective = items[0][1]
        gains = np.stack([s.gains for s, _, _ in items])  # (n, K, K)
        noise = np.stack([s.noise_per_link for s, _, _ in items])  # (n, K)
        pmax = np.stack([s.pmax_per_link for s, _, _ in items])  # (n, K)
        wmmse = self.reference_policy.decide(InterferenceState(gains, noise, pmax), objective)
        assert isinstance(wmmse, PowerAllocation)
        for key, power in (("policy", np.stack([p for _, _, p in items])),
                           ("wmmse", wmmse.power_w), ("full_reuse", pmax)):
            utility = objective.utility(physics.rates(gains, power, noise))
            self.utility[key].extend(float(u) for u in np.atleast_1d(utility))
