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

from rrm.core.errors import CheckpointError
from rrm.models.checkpoint import (
    METADATA,
    load_checkpoint,
    load_optimizer,
    optimizer_tensors,
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
    if not (Path(directory) / METADATA).is_file():
        return 0, []
    tensors, config, meta = load_checkpoint(directory)
    if config.get("kind") != KIND:
        raise CheckpointError(f"{str(directory)!r} is not a pre-training resume state")
    if meta.get("settings") != settings:
        raise CheckpointError(f"resume state in {str(directory)!r} was made with other "
                              "settings; rerun with the same options or another --out")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    load_optimizer(opt, tensors, meta["param_groups"])
    sched.load_state_dict(meta["scheduler"])
    rng.bit_generator.state = meta["shuffler"]
    gen.set_state(tensors["rng.torch"])
    return int(meta["epoch"]), list(meta["history"])
