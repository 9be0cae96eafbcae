"""The environment contract: what every simulated network offers a :class:`SimNode`.

gymnasium-like (``reset(*, seed)`` / ``step(allocation)``), with generating
the channel kept apart from applying an allocation to it: :meth:`Env.observe`
is the current slot, :meth:`Env.apply` the outcome an allocation achieves in
it (no state change), :meth:`Env.advance` moves on; :meth:`Env.step` is
apply-then-advance. What a node needs beyond that (the default allocation,
admitting a control, the sizes and the extras it reports) is the
environment's to say, so the node never asks which environment it serves.

Implementations: :class:`rrm.sim.env.InterferenceEnv` (d2d, ergodic),
:class:`rrm.sim.cellfree_env.CellFreeEnv` (cell-free) and
:class:`rrm.sim.replay.ReplayEnv` (a recorded trace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from rrm.core.types import (
    Allocation,
    BeamformingAllocation,
    CellFreeState,
    InterferenceState,
    PowerAllocation,
)
from rrm.core.validation import Violation
from rrm.core.wire.messages import ErgodicExtras

S = TypeVar("S", InterferenceState, CellFreeState)
A = TypeVar("A", PowerAllocation, BeamformingAllocation)


@dataclass(frozen=True)
class Observation(Generic[S]):
    """One slot as the environment knows it and as it is reported.

    Attributes:
        slot: slot index within the run.
        true_state: the channel the allocation will meet.
        reported: what the controller is told (cross links may be missing).
        topology_version: increments whenever the topology changes.
    """

    slot: int
    true_state: S
    reported: S
    topology_version: int


@dataclass(frozen=True)
class StepResult:
    """What an allocation achieved in its slot: rates [K] bit/s/Hz and utility."""

    slot: int
    rates: NDArray[np.float64]
    utility: float


@dataclass(frozen=True)
class EnvSizes:
    """The sizes a node announces: K links (UEs), and B APs with M antennas (cell-free)."""

    num_links: int
    num_aps: int = 0
    num_antennas: int = 0


class Env(Protocol[S, A]):
    """A network evolving slot by slot, served by a :class:`rrm.sim.node.SimNode`.

    Type parameters: the state it reports (``InterferenceState`` or
    ``CellFreeState``) and the allocation it takes (``PowerAllocation`` or
    ``BeamformingAllocation``).
    """

    @property
    def exhausted(self) -> bool:
        """True once the environment has no further slot (a replayed trace ran out)."""
        ...

    @property
    def sizes(self) -> EnvSizes:
        """K (and B, M for cell-free) of the current topology."""
        ...

    def reset(self, *, seed: int | None = None) -> Observation[S]:
        """Start a run (a new generator when seeded) and return its first slot."""
        ...

    def observe(self) -> Observation[S]:
        """The current slot (after :meth:`reset`)."""
        ...

    def apply(self, allocation: A) -> StepResult:
        """Rates and utility of ``allocation`` in the current slot (no state change)."""
        ...

    def advance(self) -> Observation[S]:
        """Move to the next slot and return it."""
        ...

    def step(self, allocation: A) -> tuple[StepResult, Observation[S]]:
        """:meth:`apply`, then :meth:`advance`."""
        ...

    def default_allocation(self) -> A:
        """What the node applies when no valid control arrived and none came before."""
        ...

    def admit(self, decision: Allocation) -> A | Violation:
        """``decision`` as this environment's allocation for the current slot, or the
        rule it breaks (:mod:`rrm.core.validation`)."""
        ...

    def extras(self, slot_duration_s: float) -> ErgodicExtras | None:
        """What the indication carries besides the state (ergodic: large-scale
        gains and minimum rates), or None."""
        ...
