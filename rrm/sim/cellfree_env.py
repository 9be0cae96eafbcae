"""A cell-free downlink evolving slot by slot (the environment behind ``cellfree`` nodes).

gymnasium-style like :class:`rrm.sim.env.InterferenceEnv`: an episode draws AP
and UE positions and the large-scale gains ``beta [B, K]``
(:func:`rrm.sim.scenarios.cellfree.generate_cellfree`); each slot redraws the
Rayleigh fading ``h_bk = sqrt(beta_bk) g_bk`` as a Gauss-Markov process
``g' = rho g + sqrt(1 - rho^2) w`` (``rho = 0``: block fading). Applying a
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
from rrm.core.types import BeamformingAllocation, CellFreeState
from rrm.sim.env import StepResult
from rrm.sim.fading import complex_normal
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree


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


@dataclasses.dataclass(frozen=True)
class CellFreeObservation:
    """One slot: the channel the allocation meets (reported in full)."""

    slot: int
    true_state: CellFreeState
    reported: CellFreeState
    topology_version: int


class CellFreeEnv:
    """A cell-free network (EGAT sec. V-A scenario) evolving slot by slot.

    Args:
        config: the scenario (B, K, M, budgets, fronthaul).
        objective: utility reported in step results.
        rho: Gauss-Markov correlation of the fading between slots.
        episode_slots: slots per topology (0: one topology for the whole run).
    """

    def __init__(self, config: CellFreeConfig, objective: Objective, rho: float = 0.0,
                 episode_slots: int = 0) -> None:
        self.config, self.objective, self.rho = config, objective, rho
        self.episode_slots = episode_slots
        self.rng = np.random.default_rng()
        self.slot = 0
        self.topology_version = 0
        self._fading: NDArray[np.complex128] | None = None
        self._obs: CellFreeObservation | None = None

    def reset(self, *, seed: int | None = None) -> CellFreeObservation:
        """Start a run: new generator (when seeded), new topology, first slot."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.slot = 0
        self._new_topology()
        return self._observe()

    def _new_topology(self) -> None:
        batch = generate_cellfree(self.config, 1, self.rng)
        self.topology = CellFreeTopology(batch.large_scale_gain[0], self.config)
        self.topology_version += 1
        self._fading = None

    def _observe(self) -> CellFreeObservation:
        shape = (*self.topology.large_scale_gain.shape, self.config.num_antennas)
        fresh = complex_normal(self.rng, shape)
        if self._fading is None or self.rho == 0.0:
            self._fading = fresh
        else:
            self._fading = self.rho * self._fading + math.sqrt(1 - self.rho**2) * fresh
        h = np.sqrt(self.topology.large_scale_gain)[..., None] * self._fading
        c = self.config
        state = CellFreeState(h, c.noise_w, np.full(c.num_aps, c.pmax_w),
                              np.full(c.num_aps, c.fronthaul_bps), c.bandwidth_hz)
        self._obs = CellFreeObservation(self.slot, state, state, self.topology_version)
        return self._obs

    @property
    def observation(self) -> CellFreeObservation:
        """The current slot (after :meth:`reset`)."""
        if self._obs is None:
            raise RuntimeError("call reset() before using the environment")
        return self._obs

    def realise(self, allocation: BeamformingAllocation) -> StepResult:
        """Rates ``[K]`` and utility of ``allocation`` in the current slot (no state change)."""
        s = self.observation.true_state
        rates = cfp.rates(s.h, allocation.v, allocation.x, s.noise_w)
        return StepResult(self.slot, rates, float(self.objective.utility(rates)))

    def advance(self) -> CellFreeObservation:
        """Next slot: new fading, and a new topology at episode ends."""
        self.slot += 1
        if self.episode_slots and self.slot % self.episode_slots == 0:
            self._new_topology()
        return self._observe()

    def step(self, allocation: BeamformingAllocation) -> tuple[StepResult, CellFreeObservation]:
        """Apply ``allocation`` to the current slot, then advance."""
        result = self.realise(allocation)
        return result, self.advance()

    def full_power(self) -> BeamformingAllocation:
        """The node's default: every AP serves every UE, maximum ratio, equal power per UE.

        Meets every power budget; it may overload the fronthaul (it is only
        used when no valid control arrived).
        """
        h = self.observation.true_state.h  # (B, K, M)
        b, k, _ = h.shape
        unit = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-300)
        v = unit * math.sqrt(self.config.pmax_w / k)
        return BeamformingAllocation(v.astype(np.complex128), np.ones((b, k), dtype=np.int8))
