"""A cell-free downlink evolving slot by slot (the environment behind ``cellfree`` nodes).

An :class:`rrm.sim.contract.Env` like :class:`rrm.sim.env.InterferenceEnv`: an
episode draws AP and UE positions and the large-scale gains ``beta [B, K]``
(:func:`rrm.sim.scenarios.cellfree.generate_cellfree`); each slot redraws the
Rayleigh fading ``h_bkm = sqrt(beta_bk) g_bkm`` with ``g`` the Gauss-Markov
process of :class:`rrm.sim.fading.FadingProcess` (``g' = rho g + sqrt(1 - rho^2) w``,
``rho = 0``: block fading). Applying a
:class:`BeamformingAllocation` gives the realised rates (bit/s/Hz, eq. 2)
and the utility; it is kept apart from generating the channel.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from rrm.core import cellfree_physics as cfp
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, BeamformingAllocation, CellFreeState
from rrm.core.validation import Violation, admit_beamforming
from rrm.core.wire.messages import ErgodicExtras
from rrm.sim.contract import EnvSizes, Observation, StepResult
from rrm.sim.fading import FadingProcess
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree

CellFreeObservation = Observation[CellFreeState]  # one slot, reported in full


@dataclasses.dataclass(frozen=True)
class CellFreeTopology:
    """One episode's large-scale state: ``beta [B, K]`` linear gains and the budgets."""

    large_scale_gain: NDArray[np.float64]
    config: CellFreeConfig

    @property
    def num_links(self) -> int:
        """K, the number of UEs (the node's link count)."""
        return int(self.large_scale_gain.shape[1])

    @property
    def num_aps(self) -> int:
        """B."""
        return int(self.large_scale_gain.shape[0])


class CellFreeEnv:
    """A cell-free network (EGAT sec. V-A scenario) evolving slot by slot (an ``Env``).

    Args:
        config: the scenario (B, K, M, budgets, fronthaul).
        objective: utility reported in step results.
        rho: Gauss-Markov correlation of the fading between slots, in [-1, 1]
            (ConfigError otherwise).
        episode_slots: slots per topology (0: one topology for the whole run).
    """

    exhausted = False  # generated slots never run out

    def __init__(self, config: CellFreeConfig, objective: Objective, rho: float = 0.0,
                 episode_slots: int = 0) -> None:
        self.config, self.objective = config, objective
        self.fading = FadingProcess(rho)
        self.episode_slots = episode_slots
        self.rng = np.random.default_rng()
        self.slot = 0
        self.topology_version = 0
        self._obs: CellFreeObservation | None = None

    @property
    def rho(self) -> float:
        """Gauss-Markov correlation of the fading between slots."""
        return self.fading.rho

    def reset(self, *, seed: int | None = None) -> CellFreeObservation:
        """Start a run: new generator (when seeded), new topology, first slot."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.slot = 0
        return self._new_episode()

    def _new_episode(self) -> CellFreeObservation:
        batch = generate_cellfree(self.config, 1, self.rng)
        self.topology = CellFreeTopology(batch.large_scale_gain[0], self.config)
        self.topology_version += 1
        shape = (*self.topology.large_scale_gain.shape, self.config.num_antennas)
        return self._observe(self.fading.reset_amplitude(self.rng, shape))

    def _observe(self, fading: NDArray[np.complex128]) -> CellFreeObservation:
        h = np.sqrt(self.topology.large_scale_gain)[..., None] * fading  # (B, K, M)
        c = self.config
        state = CellFreeState(h, c.noise_w, c.pmax_w, c.fronthaul_bps, c.bandwidth_hz)
        self._obs = Observation(self.slot, state, state, self.topology_version)
        return self._obs

    def observe(self) -> CellFreeObservation:
        """The current slot (after :meth:`reset`)."""
        if self._obs is None:
            raise RuntimeError("call reset() before using the environment")
        return self._obs

    @property
    def sizes(self) -> EnvSizes:
        """K UEs, B APs, M antennas."""
        c = self.config
        return EnvSizes(c.num_ues, c.num_aps, c.num_antennas)

    def apply(self, allocation: BeamformingAllocation) -> StepResult:
        """Rates ``[K]`` and utility of ``allocation`` in the current slot (no state change)."""
        s = self.observe().true_state
        rates = cfp.rates(s.h, allocation.v, allocation.x, s.noise_w)
        return StepResult(self.slot, rates, float(self.objective.utility(rates)))

    def advance(self) -> CellFreeObservation:
        """Next slot: new fading, and a new topology at episode ends."""
        self.slot += 1
        if self.episode_slots and self.slot % self.episode_slots == 0:
            return self._new_episode()
        return self._observe(self.fading.step_amplitude())

    def step(self, allocation: BeamformingAllocation) -> tuple[StepResult, CellFreeObservation]:
        """Apply ``allocation`` to the current slot, then advance."""
        result = self.apply(allocation)
        return result, self.advance()

    def default_allocation(self) -> BeamformingAllocation:
        """Every AP serves every UE, maximum ratio, equal power per UE.

        Meets every power budget; it may overload the fronthaul (it is only
        used when no valid control arrived).
        """
        h = self.observe().true_state.h  # (B, K, M)
        b, k, _ = h.shape
        unit = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-300)
        v = unit * math.sqrt(self.config.pmax_w / k)
        return BeamformingAllocation(v.astype(np.complex128), np.ones((b, k), dtype=np.int8))

    def admit(self, decision: Allocation) -> BeamformingAllocation | Violation:
        """``decision`` checked against the current channels and AP budgets."""
        return admit_beamforming(decision, self.observe().reported)

    def extras(self, slot_duration_s: float) -> ErgodicExtras | None:
        """Cell-free indications carry nothing besides the state."""
        return None
