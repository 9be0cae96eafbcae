"""The ``diffusion`` and ``primal-dual`` time-sharing policies (seed 004).

Both answer each slot of an ergodic network with one allocation drawn from a
stochastic policy conditioned on the network's large-scale state; over slots
the draws time-share and meet the minimum ergodic rates on average. The
draws come from per-network buffers refilled in the background
(:class:`rrm.models.diffusion.buffer.SampleBuffers`), never on the slot's path:

* ``diffusion``: DDIM sampling from the U-GNN checkpoint (100 steps, eta 0.2);
* ``primal-dual``: the expert itself (:func:`rrm.models.diffusion.expert.run_expert`),
  run once per large-scale state; slots draw from its late-iterate window.

In the xApp, :meth:`decide_indication` reads the large-scale state and f_min
from the indication's ergodic extras and raises
:class:`rrm.models.policy.PolicyUnavailable` while the buffer is empty or stale
(the xApp then falls back to WMMSE). :meth:`decide` serves ``rrm solve`` and
batch use: it samples synchronously and treats the given gains as the
large-scale state.

Both set ``time_sharing = True``: a single slot may trade sum rate for the
ergodic min-rate constraints, so the xApp skips its per-slot utility guard.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation, State
from rrm.core.wire.messages import IndicationMsg
from rrm.models.diffusion.buffer import FloatArray, SampleBuffers
from rrm.models.diffusion.expert import ExpertConfig, run_expert
from rrm.models.diffusion.features import model_inputs
from rrm.models.diffusion.model import load_diffusion
from rrm.models.diffusion.schedule import DdimConfig
from rrm.models.policy import PolicyUnavailable

CACHE_STATES = 64  # expert windows kept (large-scale states), oldest dropped first
DEFAULT_F_MIN = 0.6  # bit/s/Hz, sec. 3.2 reference level (decide() without extras)


def _scalars(state: InterferenceState) -> tuple[float, NDArray[np.float64]]:
    """(noise_w, pmax_w [K]) of one network's state."""
    noise = float(np.mean(np.asarray(state.noise_w, dtype=np.float64)))
    return noise, state.pmax_per_link.copy()


class _TimeSharingPolicy(ABC):
    """Shared buffer logic; subclasses provide ``_draw``."""

    name = "time-sharing"
    time_sharing = True

    def __init__(self, capacity: int, refill_below: int, batch: int) -> None:
        self.buffers = SampleBuffers(self._draw, capacity, refill_below, batch)

    @abstractmethod
    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        """``[B, count, N]`` power shares for ``large [B, N, N]``, ``f_min [B, N]``."""

    def _draw(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
              count: int) -> FloatArray:
        return self._draw_batch(large[None], noise_w, pmax_w, f_min[None], count)[0]

    def decide_indication(self, ind: IndicationMsg, objective: Objective) -> PowerAllocation:
        """This slot's allocation from the node's buffer; PolicyUnavailable when empty/stale."""
        ex, state = ind.ergodic, ind.state
        if ex is None or not isinstance(state, InterferenceState):
            raise PolicyUnavailable(f"{self.name} needs an ergodic indication "
                                    f"(large-scale state), got {ind.scenario!r}")
        noise, pmax = _scalars(state)
        share = self.buffers.take(ind.header.node_id, ex.topology_version, ex.large_scale,
                                  ex.f_min, noise, float(pmax.mean()))
        return PowerAllocation(share * pmax)

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Synchronous draw per instance, ``state.gains`` taken as the large-scale state."""
        if not isinstance(state, InterferenceState):
            raise InvalidInput(f"{self.name} allocates power in interference networks")
        gains = np.asarray(state.gains if state.batched else state.gains[None], dtype=np.float64)
        pmax = state.pmax_per_link.reshape(gains.shape[:-1])
        noise = float(np.mean(np.asarray(state.noise_w, dtype=np.float64)))  # one SNR scale
        fmin = np.full(gains.shape[:-1], DEFAULT_F_MIN)
        shares = self._draw_batch(gains, noise, float(pmax.mean()), fmin, 1)[:, 0]  # (n, K)
        power = shares * pmax
        return PowerAllocation(power if state.batched else power[0])

    def close(self) -> None:
        """Stop the background refill thread."""
        self.buffers.close()

    def stats(self) -> dict[str, Any]:
        """Buffer counters and total background sampling time."""
        return {**self.buffers.counters, "sampling_s": round(self.buffers.sampling_s, 3)}


class DiffusionPolicy(_TimeSharingPolicy):
    """Time-shared U-GNN diffusion samples (seed 004).

    Args:
        checkpoint: diffusion checkpoint directory (default: the shipped one).
        ddim_steps, eta: DDIM settings (sec. 3.1: 100 steps; authors: eta 0.2).
        capacity, refill_below, batch: buffer sizes per network.
        seed: seed of the sampler's noise.
        threads: torch intra-op threads (1, as ``gfm``: small tensors, shared cores).
    """

    name = "diffusion"
    version = "ugnn-ddim"

    def __init__(self, checkpoint: str | Path | None = None, ddim_steps: int = 100,
                 eta: float = 0.2, capacity: int = 64, refill_below: int = 16, batch: int = 32,
                 seed: int = 0, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        model, self.metadata = load_diffusion(checkpoint)
        self.model = model.with_ddim(DdimConfig(ddim_steps, eta))
        self._gen = torch.Generator().manual_seed(seed)
        super().__init__(capacity, refill_below, batch)

    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        gso, u = model_inputs(large, pmax_w / noise_w, f_min)
        return self.model.sample_inputs(gso, u, count, self._gen).double().numpy()


class PrimalDualPolicy(_TimeSharingPolicy):
    """The primal-dual expert (eqs. 9-10) as a time-sharing policy.

    The expert runs once per large-scale state (in the background thread;
    thousands of iterations), and each slot plays one of its late iterates.
    """

    name = "primal-dual"
    version = "dual-descent-powers"

    def __init__(self, iterations: int = 3000, window: int = 1000, samples: int = 200,
                 capacity: int = 200, refill_below: int = 50, seed: int = 0,
                 threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.cfg = ExpertConfig(iterations=iterations, window=window, samples=samples)
        self.seed = seed
        self._cache: dict[bytes, FloatArray] = {}
        self._rng = np.random.default_rng(seed)
        super().__init__(capacity, refill_below, samples)

    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        keys = [np.ascontiguousarray(g).tobytes() + np.ascontiguousarray(f).tobytes()
                for g, f in zip(large, f_min, strict=True)]
        todo = [i for i, key in enumerate(keys) if key not in self._cache]
        if todo:  # one batched expert run for every new state
            res = run_expert(large[todo], noise_w, pmax_w, f_min[todo], self.cfg, self.seed)
            while len(self._cache) + len(todo) > CACHE_STATES and self._cache:
                self._cache.pop(next(iter(self._cache)))  # oldest first
            self._cache.update({keys[i]: res.samples[j] for j, i in enumerate(todo)})
        windows = np.stack([self._cache[key] for key in keys])  # (B, S, N)
        pick = self._rng.integers(0, windows.shape[1], (len(keys), count))
        return np.take_along_axis(windows, pick[..., None], axis=1)
