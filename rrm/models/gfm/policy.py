"""The ``gfm`` policy: a fine-tuned GFM-RA checkpoint deciding powers per slot.

``gfm-wmmse`` (our extension, not in the paper) polishes the model's answer
with a few WMMSE iterations warm-started from it, kept only where they raise
the objective: never worse than ``gfm`` under the reported CSI, and a few
iterations cost a fraction of one full WMMSE run (100 iterations).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation, State
from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.head import PROMPTS, GFMPowerModel
from rrm.models.gfm.store import load_power_model
from rrm.models.wmmse_policy import WmmsePolicy

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
PCGNN_CHECKPOINT = "pcgnn-small-switch"
DEFAULT_CHECKPOINTS = {"sum": "gfm-small-sum", "pf": "gfm-small-switch", "qos": "gfm-small-switch"}


class GFMPolicy:
    """Decides powers with a fine-tuned GFM-RA model.

    Args:
        checkpoint: a checkpoint directory; default: the shipped ``small``
            model for the objective asked for (``rrm/models/checkpoints``).
        threads: torch intra-op threads (1: slot-loop friendly).
        refine_iterations: WMMSE iterations warm-started from the model's
            powers (0: the model alone, the paper's GFM-RA).
    """

    name = "gfm"

    def __init__(self, checkpoint: str | Path | None = None, threads: int = 1,
                 refine_iterations: int = 0) -> None:
        torch.set_num_threads(threads)
        self._refiner = _refiner(refine_iterations)
        self._explicit = Path(checkpoint) if checkpoint else None
        self._models: dict[Path, GFMPowerModel] = {}
        self.version = ""
        self._cache: dict[tuple[str, bytes], np.ndarray] = {}
        self._lock = threading.Lock()
        self._model_for("sum")  # fail fast on a missing or bad checkpoint

    @classmethod
    def from_model(cls, model: GFMPowerModel, threads: int = 1) -> GFMPolicy:
        """A policy around an in-memory model (evaluation during training)."""
        policy = cls.__new__(cls)
        torch.set_num_threads(threads)
        policy._explicit = Path("<in-memory>")
        policy._models = {policy._explicit: model.eval()}
        policy.version = "in-memory"
        policy._cache, policy._lock = {}, threading.Lock()
        policy._refiner = None
        return policy

    def _model_for(self, objective: str) -> tuple[GFMPowerModel, str]:
        path = self._explicit or CHECKPOINTS / DEFAULT_CHECKPOINTS.get(objective, "gfm-small-sum")
        if path not in self._models:
            loaded, meta = load_power_model(path)
            self._models[path] = loaded.eval()
            self.version = str(meta.get("sha256", ""))[:12]
        model = self._models[path]
        switchable = model.head.prompt is not None
        return model, objective if switchable and objective in PROMPTS else "sum"

    def prefetch(self, states: Sequence[State], objectives: Sequence[Objective]) -> None:
        """Decide several single-snapshot states of equal K in one batched pass.

        The answers are kept until the matching :meth:`decide` call takes them
        (several E2 nodes in one slot: one forward pass instead of one per node).
        Replaces whatever an earlier prefetch left unclaimed.
        """
        groups: dict[tuple[int, Objective], list[InterferenceState]] = {}
        for state, objective in zip(states, objectives, strict=True):
            if isinstance(state, InterferenceState) and np.ndim(state.gains) == 2:
                groups.setdefault((state.num_links, objective), []).append(state)
        cache: dict[tuple[str, bytes], np.ndarray] = {}
        for (k, objective), group in groups.items():
            if len(group) < 2:
                continue
            stacked = InterferenceState(
                np.stack([np.asarray(s.gains, np.float64) for s in group]),
                np.stack([s.noise_per_link for s in group]),
                np.stack([s.pmax_per_link for s in group]),
                None if all(s.csi_mask is None for s in group) else np.stack(
                    [np.ones((k, k), bool) if s.csi_mask is None else
                     np.asarray(s.csi_mask, bool) for s in group]))
            power = self._powers(stacked, objective)
            for state, p in zip(group, power, strict=True):
                cache[(objective.name, _fingerprint(state))] = p
        with self._lock:
            self._cache = cache

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Powers ``[..., K]`` in watts within ``[0, pmax]``."""
        if not isinstance(state, InterferenceState):
            raise TypeError("gfm decides powers for interference networks")
        if np.ndim(state.gains) == 2 and self._cache:
            with self._lock:
                hit = self._cache.pop((objective.name, _fingerprint(state)), None)
            if hit is not None:
                return PowerAllocation(hit)
        return PowerAllocation(self._powers(state, objective))

    def _powers(self, state: InterferenceState, objective: Objective) -> np.ndarray:
        power = self._model_powers(state, objective.name)
        if self._refiner is None:
            return power
        return np.asarray(self._refiner.decide(state, objective, warm_start=power).power_w)

    @torch.inference_mode()
    def _model_powers(self, state: InterferenceState, objective: str) -> np.ndarray:
        model, prompt = self._model_for(objective)
        gains = np.asarray(state.gains, dtype=np.float64)
        single = gains.ndim == 2
        g = torch.from_numpy(gains[None] if single else gains)
        b, k = g.shape[0], g.shape[-1]
        mask = None if state.csi_mask is None else torch.from_numpy(
            np.broadcast_to(np.asarray(state.csi_mask, bool), g.shape).copy())
        noise = state.noise_per_link.reshape(b, k)
        pmax = state.pmax_per_link.reshape(b, k)
        batch = graph_batch(g, torch.from_numpy(noise.copy()), torch.from_numpy(pmax.copy()),
                            mask)
        power = np.clip(model(batch, prompt).numpy(), 0.0, pmax)
        return power[0] if single else power


def gfm_wmmse(checkpoint: str | Path | None = None, threads: int = 1,
              refine_iterations: int = 10) -> GFMPolicy:
    """``gfm`` polished by ``refine_iterations`` warm-started WMMSE iterations."""
    policy = GFMPolicy(checkpoint, threads, refine_iterations)
    policy.name = "gfm-wmmse"
    return policy


def pcgnn(checkpoint: str | Path | None = None, threads: int = 1) -> GFMPolicy:
    """The PCGNN baseline (Shen et al.): the shipped switchable MPNN, or ``checkpoint``."""
    policy = GFMPolicy(checkpoint or CHECKPOINTS / PCGNN_CHECKPOINT, threads)
    policy.name = "pcgnn"
    return policy


def _refiner(iterations: int) -> WmmsePolicy | None:
    """Single-start WMMSE capped at ``iterations``, warm-started from the model's powers."""
    if iterations < 0:
        raise InvalidInput(f"refine_iterations must be >= 0, got {iterations}")
    return WmmsePolicy(max_iter=iterations) if iterations else None


def _fingerprint(state: InterferenceState) -> bytes:
    """Digest of everything the model sees of a single-snapshot state."""
    h = hashlib.blake2b(digest_size=16)
    for part in (state.gains, state.noise_w, state.pmax_w, state.csi_mask):
        if part is not None:
            h.update(np.ascontiguousarray(part).tobytes())
    return h.digest()
