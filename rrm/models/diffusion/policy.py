"""The ``diffusion`` and ``primal-dual`` time-sharing policies (seed 004).

Both answer each slot of an ergodic network with one allocation drawn from a
stochastic policy conditioned on the network's large-scale state; over slots
the draws time-share and meet the minimum ergodic rates on average. The
draws come from per-network buffers refilled in the background
(:class:`rrm.models.diffusion.buffer.SampleBuffers`), never on the slot's path:

* ``diffusion``: DDIM sampling from the U-GNN checkpoint (100 steps, eta 0.2);
* ``primal-dual``: the expert itself (:func:`rrm.models.diffusion.expert.run_expert`),
  run once per large-scale state; slots draw from its late-iterate window.

In the xApp, :meth:`decide` gets one slot of a network: the state carries
the large-scale state, f_min, topology version and network id (the codec
sets them from an ergodic indication), and the answer comes from that
network's buffer, or :class:`rrm.models.policy.PolicyUnavailable` while the
buffer is empty or stale (the xApp then falls back to WMMSE). A state of no
network (``rrm solve``, batch use) is sampled synchronously, its gains taken
as the large-scale state.

Both set ``time_sharing = True``: a single slot may trade sum rate for the
ergodic min-rate constraints, so the xApp skips its per-slot utility guard;
a network's slot is answered inline (:meth:`Policy.answers_inline`: the
buffer lookup runs on the xApp's loop thread, no worker-thread hop).
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation, State
from rrm.models.diffusion.buffer import FloatArray, SampleBuffers
from rrm.models.diffusion.expert import ExpertConfig, run_expert
from rrm.models.diffusion.features import model_inputs
from rrm.models.diffusion.model import LARGE_PAIRS, load_diffusion
from rrm.models.diffusion.schedule import DdimConfig
from rrm.models.policy import Policy, PolicyUnavailable

CACHE_STATES = 64  # expert windows kept (large-scale states), oldest dropped first
DEFAULT_F_MIN = 0.6  # bit/s/Hz, sec. 3.2 reference level (decide() without extras)


def _scalars(state: InterferenceState) -> tuple[float, NDArray[np.float64]]:
    """(noise_w, pmax_w [K]) of one network's state."""
    noise = float(np.mean(np.asarray(state.noise_w, dtype=np.float64)))
    return noise, state.pmax_per_link.copy()


class _TimeSharingPolicy(Policy):
    """Shared buffer logic; subclasses provide ``_draw_batch``."""

    time_sharing = True

    def __init__(self, name: str, capacity: int, refill_below: int, batch: int,
                 first_batch: int = 4, replay: bool = False, refill_niceness: int = 0,
                 replay_pairs: int | None = None) -> None:
        super().__init__(name)
        self.buffers = SampleBuffers(self._draw, capacity, refill_below, batch, first_batch,
                                     replay, niceness=refill_niceness,
                                     replay_pairs=replay_pairs)

    @abstractmethod
    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        """``[B, count, N]`` power shares for ``large [B, N, N]``, ``f_min [B, N]``."""

    def _draw(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
              count: int) -> FloatArray:
        return self._draw_batch(large[None], noise_w, pmax_w, f_min[None], count)[0]

    def answers_inline(self, state: State) -> bool:
        """A network's slot is a buffer lookup (microseconds: the xApp answers it on its
        loop thread, no worker hop); a state of no network is a synchronous draw."""
        return isinstance(state, InterferenceState) and bool(state.network_id)

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """One slot of a network (``state.network_id`` set), else a synchronous draw.

        A slot is served from its network's buffer, conditioned on
        ``state.large_scale`` and ``state.f_min``; :class:`PolicyUnavailable`
        while that buffer is empty or stale, or when the slot has no large-scale
        state (not an ergodic network). A state of no network (``rrm solve``,
        batches) gets one synchronous draw per instance, ``state.gains`` taken
        as the large-scale state.
        """
        if not isinstance(state, InterferenceState):
            raise InvalidInput(f"{self.name} allocates power in interference networks")
        if state.network_id:
            return self._decide_slot(state)
        gains = np.asarray(state.gains if state.batched else state.gains[None], dtype=np.float64)
        pmax = state.pmax_per_link.reshape(gains.shape[:-1])
        noise = float(np.mean(np.asarray(state.noise_w, dtype=np.float64)))  # one SNR scale
        fmin = np.full(gains.shape[:-1], DEFAULT_F_MIN)
        shares = self._draw_batch(gains, noise, float(pmax.mean()), fmin, 1)[:, 0]  # (n, K)
        power = shares * pmax
        return PowerAllocation(power if state.batched else power[0])

    def _decide_slot(self, state: InterferenceState) -> PowerAllocation:
        """This slot's allocation from the network's buffer."""
        if state.large_scale is None or state.f_min is None:
            raise PolicyUnavailable(f"{self.name} needs an ergodic network's slot "
                                    f"(large-scale state and f_min), got none")
        noise, pmax = _scalars(state)
        share = self.buffers.take(state.network_id, state.topology_version, state.large_scale,
                                  state.f_min, noise, float(pmax.mean()))
        return PowerAllocation(share * pmax)

    def close(self) -> None:
        """Stop the background refill thread."""
        self.buffers.close()

    def stats(self) -> dict[str, Any]:
        """Buffer counters and total background sampling time."""
        return {**self.buffers.counters, "sampling_s": round(self.buffers.sampling_s, 3)}


class DiffusionPolicy(_TimeSharingPolicy):
    """Time-shared U-GNN diffusion samples (seed 004).

    Args:
        checkpoint: diffusion checkpoint directory (default: the shipped ones,
            ``diffusion-small`` below N = 100 pairs and ``diffusion-n400`` from there).
        ddim_steps, eta: DDIM settings (sec. 3.1: 100 steps; authors: eta 0.2).
        capacity, refill_below, batch: buffer sizes per network.
        first_batch: samples of the first draw after a change of state.
        replay: slots time-share the buffered samples (with replacement)
            instead of consuming them (:class:`SampleBuffers`); None (default):
            networks of N >= 100 pairs do (``LARGE_PAIRS``: a draw there takes
            seconds to minutes, far longer than a slot), smaller ones consume.
        seed: seed of the sampler's noise.
        threads: torch intra-op threads (1, as ``gfm``: small tensors, shared cores).
        refill_niceness: added to the refill thread's OS niceness
            (:class:`SampleBuffers`), so its draws yield the cores to the slot loop.
    """

    version = "ugnn-ddim"

    def __init__(self, checkpoint: str | Path | None = None, ddim_steps: int = 100,
                 eta: float = 0.2, capacity: int = 64, refill_below: int = 16, batch: int = 32,
                 seed: int = 0, threads: int = 1, *, name: str = "diffusion",
                 first_batch: int = 4, replay: bool | None = None,
                 refill_niceness: int = 0) -> None:
        torch.set_num_threads(threads)
        ddim = DdimConfig(ddim_steps, eta)
        model, self.metadata = load_diffusion(checkpoint)
        self.model = model.with_ddim(ddim)
        # no checkpoint given: networks of N >= LARGE_PAIRS get the shipped N = 400 model
        self._large = (None if checkpoint is not None
                       else load_diffusion(pairs=LARGE_PAIRS)[0].with_ddim(ddim))
        self._gen = torch.Generator().manual_seed(seed)
        super().__init__(name, capacity, refill_below, batch, first_batch, bool(replay),
                         refill_niceness, LARGE_PAIRS if replay is None else None)

    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        gso, u = model_inputs(large, pmax_w / noise_w, f_min)
        model = self._large if self._large is not None and \
            large.shape[-1] >= LARGE_PAIRS else self.model
        return model.sample_inputs(gso, u, count, self._gen,
                                        self.buffers.check_open).double().numpy()


class PrimalDualPolicy(_TimeSharingPolicy):
    """The primal-dual expert (eqs. 9-10) as a time-sharing policy.

    The expert runs once per large-scale state (in the background thread;
    thousands of iterations), and each slot plays one of its late iterates.
    """

    version = "dual-descent-powers"

    def __init__(self, iterations: int = 3000, window: int = 1000, samples: int = 200,
                 capacity: int = 200, refill_below: int = 50, seed: int = 0,
                 threads: int = 1, *, name: str = "primal-dual") -> None:
        torch.set_num_threads(threads)
        self.cfg = ExpertConfig(iterations=iterations, window=window, samples=samples)
        self.seed = seed
        self._cache: dict[bytes, FloatArray] = {}
        self._rng = np.random.default_rng(seed)
        super().__init__(name, capacity, refill_below, samples)

    def _draw_batch(self, large: FloatArray, noise_w: float, pmax_w: float, f_min: FloatArray,
                    count: int) -> FloatArray:
        keys = [np.ascontiguousarray(g).tobytes() + np.ascontiguousarray(f).tobytes()
                for g, f in zip(large, f_min, strict=True)]
        todo = [i for i, key in enumerate(keys) if key not in self._cache]
        if todo:  # one batched expert run for every new state
            res = run_expert(large[todo], noise_w, pmax_w, f_min[todo], self.cfg, self.seed,
                             lambda _: self.buffers.check_open())  # every 100 iterations
            while len(self._cache) + len(todo) > CACHE_STATES and self._cache:
                self._cache.pop(next(iter(self._cache)))  # oldest first
            self._cache.update({keys[i]: res.samples[j] for j, i in enumerate(todo)})
        windows = np.stack([self._cache[key] for key in keys])  # (B, S, N)
        pick = self._rng.integers(0, windows.shape[1], (len(keys), count))
        return np.take_along_axis(windows, pick[..., None], axis=1)
