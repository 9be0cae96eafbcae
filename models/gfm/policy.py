"""The ``gfm`` policy: a fine-tuned GFM-RA checkpoint deciding powers per slot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.gfm.features import graph_batch
from models.gfm.head import PROMPTS, GFMPowerModel
from models.gfm.store import load_power_model
from models.policy import register_policy
from sim.objectives import Objective
from sim.types import InterferenceState, PowerAllocation, State

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
DEFAULT_CHECKPOINTS = {"sum": "gfm-small-sum", "pf": "gfm-small-switch", "qos": "gfm-small-switch"}


@register_policy("gfm")
class GFMPolicy:
    """Decides powers with a fine-tuned GFM-RA model.

    Args:
        checkpoint: a checkpoint directory; default: the shipped ``small``
            model for the objective asked for (``models/checkpoints``).
        threads: torch intra-op threads (1: slot-loop friendly).
    """

    name = "gfm"

    def __init__(self, checkpoint: str | Path | None = None, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self._explicit = Path(checkpoint) if checkpoint else None
        self._models: dict[Path, GFMPowerModel] = {}
        self.version = ""
        self._model_for("sum")  # fail fast on a missing or bad checkpoint

    @classmethod
    def from_model(cls, model: GFMPowerModel, threads: int = 1) -> GFMPolicy:
        """A policy around an in-memory model (evaluation during training)."""
        policy = cls.__new__(cls)
        torch.set_num_threads(threads)
        policy._explicit = Path("<in-memory>")
        policy._models = {policy._explicit: model.eval()}
        policy.version = "in-memory"
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

    @torch.inference_mode()
    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Powers ``[..., K]`` in watts within ``[0, pmax]``."""
        if not isinstance(state, InterferenceState):
            raise TypeError("gfm decides powers for interference networks")
        model, prompt = self._model_for(objective.name)
        gains = np.asarray(state.gains, dtype=np.float64)
        single = gains.ndim == 2
        g = torch.from_numpy(gains[None] if single else gains)
        b, k = g.shape[0], g.shape[-1]
        mask = None if state.csi_mask is None else torch.from_numpy(
            np.broadcast_to(np.asarray(state.csi_mask, bool), g.shape).copy())
        noise = np.broadcast_to(np.asarray(state.noise_w, dtype=np.float64), (b, k))
        pmax = np.broadcast_to(np.asarray(state.pmax_w, dtype=np.float64), (b, k))
        batch = graph_batch(g, torch.from_numpy(noise.copy()), torch.from_numpy(pmax.copy()),
                            mask)
        power = model(batch, prompt).numpy()
        power = np.clip(power, 0.0, pmax)
        return PowerAllocation(power[0] if single else power)
