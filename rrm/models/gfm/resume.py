"""Resume states of pre-training runs: everything needed to continue bit-exactly.

A resume directory is a checkpoint directory (:mod:`rrm.models.checkpoint`, so
no pickle and a sha256 check) holding, after every finished epoch:

* tensors: the whole pre-trainer (student, EMA teacher, decoder, projector,
  predictor) as ``model.*``, the optimiser's per-parameter state as
  ``opt.<index>.<name>``, the edge-mask generator as ``rng.torch``;
* metadata: the epoch reached, the loss history, the optimiser's parameter
  groups, the LR scheduler's state, the minibatch shuffler's state, and the
  run's settings (a resume with other settings is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rrm.models.checkpoint import (
    optimizer_tensors,
    restore_model_and_optimizer,
    save_checkpoint,
)

KIND = "gfm-pretrain-resume"


def save_pretrain_state(directory: str | Path, model: torch.nn.Module,
                        opt: torch.optim.Optimizer, sched: Any, rng: np.random.Generator,
                        gen: torch.Generator, epoch: int, history: list[dict[str, float]],
                        settings: dict[str, Any]) -> Path:
    """Write the state reached after ``epoch`` epochs."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, param_groups = optimizer_tensors(opt)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = gen.get_state()
    meta = {"epoch": epoch, "history": history, "settings": settings,
            "param_groups": param_groups, "scheduler": sched.state_dict(),
            "shuffler": rng.bit_generator.state}
    return save_checkpoint(directory, tensors, {"kind": KIND}, meta)


def restore_pretrain_state(directory: str | Path, model: torch.nn.Module,
                           opt: torch.optim.Optimizer, sched: Any, rng: np.random.Generator,
                           gen: torch.Generator, settings: dict[str, Any]
                           ) -> tuple[int, list[dict[str, float]]]:
    """Load a saved state into the given objects; ``(0, [])`` when there is none."""
    loaded = restore_model_and_optimizer(directory, KIND, settings, model, opt, "--out")
    if loaded is None:
        return 0, []
    tensors, meta = loaded
    sched.load_state_dict(meta["scheduler"])
    rng.bit_generator.state = meta["shuffler"]
    gen.set_state(tensors["rng.torch"])
    return int(meta["epoch"]), list(meta["history"])
