"""Resume states of EGAT training: everything needed to continue bit-exactly.

A resume directory is a checkpoint directory (:mod:`rrm.models.checkpoint`:
no pickle, sha256 checked), written after every epoch (``epoch_steps``
primal-dual steps) and when a time limit stops the run, holding

* tensors: the model (``model.*``), the best validated weights so far
  (``best.*``), Adam's per-parameter state (``opt.<index>.<name>``), the
  multipliers ``mu`` and the global torch generator (``rng.torch``: the
  Bernoulli association samples of eq. 31);
* metadata: the step reached, the training log, the best validation metric
  and step, Adam's parameter groups, the numpy generator that draws the
  instances, and the run's settings (a resume with other settings is
  refused; ``steps`` and ``time_limit_s`` may change, so a run is extended
  by resuming it with more steps).

As :mod:`rrm.models.gfm.resume` for GFM pre-training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rrm.models.checkpoint import (
    optimizer_tensors,
    restore_model_and_optimizer,
    save_checkpoint,
)

KIND = "cellfree-egat-resume"
FREE_SETTINGS = ("steps", "time_limit_s")  # may differ between the pieces of one run


@dataclass
class LoopState:
    """Where a run stands: step reached, multipliers, best validated weights, log."""

    step: int
    mu: torch.Tensor
    best_metric: float
    best_step: int
    best_weights: dict[str, torch.Tensor]
    history: dict[str, Any]


def run_settings(train: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """What must match to resume: the training and model configs without the free keys."""
    fixed = {k: v for k, v in train.items() if k not in FREE_SETTINGS}
    return json.loads(json.dumps({"train": fixed, "model": model}))


def save_train_state(directory: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     rng: np.random.Generator, state: LoopState, settings: dict[str, Any]
                     ) -> Path:
    """Write the state reached after ``state.step`` steps (replaces the previous one)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in state.best_weights.items()})
    opt_tensors, param_groups = optimizer_tensors(opt)
    tensors.update(opt_tensors)
    tensors["mu"] = state.mu
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"step": state.step, "history": state.history, "best_metric": state.best_metric,
            "best_step": state.best_step, "settings": settings,
            "param_groups": param_groups, "numpy_rng": rng.bit_generator.state}
    return save_checkpoint(directory, tensors, {"kind": KIND}, meta)


def restore_train_state(directory: str | Path, model: torch.nn.Module,
                        opt: torch.optim.Optimizer, rng: np.random.Generator,
                        settings: dict[str, Any]) -> LoopState | None:
    """Load a saved state into ``model``, ``opt``, ``rng`` and torch's generator; None if none."""
    loaded = restore_model_and_optimizer(directory, KIND, settings, model, opt, "--resume-dir")
    if loaded is None:
        return None
    tensors, meta = loaded
    rng.bit_generator.state = meta["numpy_rng"]
    torch.set_rng_state(tensors["rng.torch"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return LoopState(step=int(meta["step"]), mu=tensors["mu"],
                     best_metric=float(meta["best_metric"]), best_step=int(meta["best_step"]),
                     best_weights=best, history=dict(meta["history"]))

