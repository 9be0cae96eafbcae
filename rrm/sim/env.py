"""Network environments: a topology per episode, fading redrawn every slot.

Implements :class:`rrm.sim.contract.Env`: :meth:`reset` starts an episode (one
seeded ``np.random.Generator`` per environment) and returns the first slot's
observation; :meth:`step` applies an allocation to the current slot,
returns what it achieved, and moves to the next slot. Generating the channel
is kept apart from applying an allocation to it (:mod:`rrm.core.physics`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core import physics
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, InterferenceState, PowerAllocation
from rrm.core.validation import BUDGET_TOLERANCE, Violation, admit_power
from rrm.core.wire.messages import ErgodicExtras
from rrm.sim.contract import EnvSizes, Observation, StepResult
from rrm.sim.fading import PowerFading

__all__ = ["InterferenceEnv", "Observation", "StepResult", "Topology", "TopologyFactory"]


@dataclass(frozen=True)
class Topology:
    """The large-scale state of an interference network for one episode.

    Attributes:
        large_scale: ``[K, K]`` linear power gain (path loss x shadowing),
            receiver k from transmitter j.
        noise_w: noise power per receiver, W.
        pmax_w: ``[K]`` power budgets, W.
        f_min: ``[K]`` minimum ergodic rates, bit/s/Hz (ergodic networks; zeros otherwise).
    """

    large_scale: NDArray[np.float64]
    noise_w: float
    pmax_w: NDArray[np.float64]
    f_min: NDArray[np.float64]

    @property
    def num_links(self) -> int:
        """K."""
        return int(self.large_scale.shape[0])


TopologyFactory = Callable[[np.random.Generator], Topology]


class InterferenceEnv:
    """An interference network (d2d or ergodic) evolving slot by slot (an ``Env``).

    Args:
        topology_factory: draws a topology from the environment's generator.
        fading: the small-scale fading process (i.i.d. or Gauss-Markov): a
            :class:`rrm.sim.fading.FadingProcess` or the node's :class:`rrm.sim.fading.BlockFading`.
        objective: utility reported in step results.
        csi_missing_fraction: share of cross links left unreported each slot.
        episode_slots: slots per topology (0: one topology for the whole run).
        ergodic: report the large-scale gains and minimum rates with every
            slot (:meth:`extras`), as ergodic nodes do.
    """

    exhausted = False  # generated slots never run out

    def __init__(self, topology_factory: TopologyFactory, fading: PowerFading,
                 objective: Objective, csi_missing_fraction: float = 0.0,
                 episode_slots: int = 0, ergodic: bool = False) -> None:
        self.topology_factory = topology_factory
        self.fading = fading
        self.objective = objective
        self.csi_missing_fraction = csi_missing_fraction
        self.episode_slots = episode_slots
        self.ergodic = ergodic
        self.rng = np.random.default_rng()
        self.slot = 0
        self.topology_version = 0
        self._obs: Observation[InterferenceState] | None = None

    def reset(self, *, seed: int | None = None) -> Observation[InterferenceState]:
        """Start a run: new generator (when seeded), new topology, first slot."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.slot = 0
        self._new_topology()
        return self._observe(self.fading.reset(self.rng, self.topology.large_scale.shape))

    def _new_topology(self) -> None:
        self.topology = self.topology_factory(self.rng)
        self.topology_version += 1
        k = self.topology.num_links
        # admit()'s bound, once per topology: the same product admit_power forms per control
        self._power_cap = np.broadcast_to(np.asarray(self.topology.pmax_w, dtype=np.float64),
                                          (k,)) * (1 + BUDGET_TOLERANCE)  # (K,) W
        self._floor = np.zeros(k)  # (K,) W: admit()'s lower bound as an array (no scalar path)
        self._noise = np.full(k, self.topology.noise_w, dtype=np.float64)  # (K,) W
        self._one = np.ones(k)  # (K,): the 1 of log2(1 + SINR)

    def _observe(self, fading_gain: NDArray[np.float64]) -> Observation[InterferenceState]:
        t = self.topology
        # fading_gain is fresh from the fading process: the gains take its place (no new array)
        gains = np.multiply(t.large_scale, fading_gain, out=fading_gain)  # (K, K)
        true_state = InterferenceState(gains, t.noise_w, t.pmax_w)
        reported = true_state
        if self.csi_missing_fraction > 0:
            mask = physics.random_csi_mask(self.rng, gains.shape, self.csi_missing_fraction)
            reported = InterferenceState(physics.apply_csi_mask(gains, mask), t.noise_w,
                                         t.pmax_w, csi_mask=mask)
        self._obs = Observation(self.slot, true_state, reported, self.topology_version)
        self._direct = np.diagonal(gains)  # (K,) view: G_kk of this slot, for apply()
        return self._obs

    def observe(self) -> Observation[InterferenceState]:
        """The current slot (after :meth:`reset`)."""
        if self._obs is None:
            raise RuntimeError("call reset() before using the environment")
        return self._obs

    @property
    def sizes(self) -> EnvSizes:
        """K of the current topology."""
        return EnvSizes(self.topology.num_links)

    def apply(self, allocation: PowerAllocation) -> StepResult:
        """Rates and utility of ``allocation`` in the current slot (no state change).

        The rates are :func:`rrm.core.physics.rates` bit for bit (the same
        products, sums and order; tested), computed with fewer numpy calls:
        the direct gains are a view taken once per slot and the noise and the
        1 of ``log2(1 + SINR)`` are arrays, so no call takes a scalar operand.
        """
        true_state = self.observe().true_state
        gains = true_state.gains  # (K, K)
        power = np.asarray(allocation.power_w, dtype=np.float64)
        if power.shape != self._one.shape or gains.shape != (power.size, power.size):
            rates = physics.rates(gains, power, true_state.noise_w)
        else:
            signal = np.multiply(self._direct, power)  # (K,) G_kk p_k
            total = np.einsum("kj,j->k", gains, power)  # (K,) signal + interference
            np.subtract(total, signal, out=total)
            np.add(total, self._noise, out=total)  # interference + noise
            rates = np.divide(signal, total, out=signal)  # SINR
            np.add(self._one, rates, out=rates)
            np.log2(rates, out=rates)
        return StepResult(self.slot, rates, float(self.objective.utility(rates)))

    def advance(self) -> Observation[InterferenceState]:
        """Move to the next slot: new fading, and a new topology at episode ends."""
        self.slot += 1
        if self.episode_slots and self.slot % self.episode_slots == 0:
            self._new_topology()
            return self._observe(self.fading.reset(self.rng, self.topology.large_scale.shape))
        return self._observe(self.fading.step())

    def step(self, allocation: PowerAllocation
             ) -> tuple[StepResult, Observation[InterferenceState]]:
        """Apply ``allocation`` to the current slot, then advance."""
        result = self.apply(allocation)
        return result, self.advance()

    def default_allocation(self) -> PowerAllocation:
        """Every link at its budget (the default when nothing else is known)."""
        return PowerAllocation(self.observe().true_state.pmax_per_link.copy())

    def admit(self, decision: Allocation) -> PowerAllocation | Violation:
        """``decision`` checked against the reported budgets (:func:`admit_power`).

        Powers inside ``[0, pmax (1 + tolerance)]`` are admitted with one fused
        check (NaN and Inf fail it); anything else goes through
        :func:`admit_power`, which names the rule broken.
        """
        if isinstance(decision, PowerAllocation):
            power = np.asarray(decision.power_w, dtype=np.float64)
            cap = self._power_cap
            if (power.shape == cap.shape
                    and np.count_nonzero((power >= self._floor) & (power <= cap)) == cap.size):
                return PowerAllocation(power, decision.iterations)
        return admit_power(decision, self.observe().reported)

    def extras(self, slot_duration_s: float) -> ErgodicExtras | None:
        """Ergodic networks: large-scale gains, minimum rates, topology version."""
        if not self.ergodic:
            return None
        t = self.topology
        return ErgodicExtras(t.large_scale, t.f_min, self.topology_version, slot_duration_s)
