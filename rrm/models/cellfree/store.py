"""Saving and loading EGAT checkpoints (:mod:`rrm.models.checkpoint` layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rrm.core.errors import CheckpointError
from rrm.models.cellfree.dnn import DenseNet, DnnConfig
from rrm.models.cellfree.egat import Egat, EgatConfig
from rrm.models.checkpoint import load_checkpoint, save_checkpoint

EGAT_KIND = "cellfree-egat"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "egat-small"


def save_egat(directory: str | Path, model: Egat | DenseNet, mu: torch.Tensor,
              training: dict[str, Any], metadata: dict[str, Any]) -> Path:
    """Weights, the model config, the training config and the final multipliers ``mu``.

    ``arch`` is ``egat`` (attention or the ENGNN-style ablation) or ``dnn``.
    """
    arch = "dnn" if isinstance(model, DenseNet) else "egat"
    config = {"kind": EGAT_KIND, "arch": arch, "model": model.cfg.as_dict(),
              "training": training, "mu": mu.tolist()}
    return save_checkpoint(directory, model.state_dict(), config, metadata)


def load_egat(directory: str | Path = DEFAULT_CHECKPOINT
              ) -> tuple[Egat | DenseNet, dict[str, Any]]:
    """The model in eval mode, and the checkpoint's metadata."""
    state, config, metadata = load_checkpoint(directory)
    if config.get("kind") != EGAT_KIND:
        raise CheckpointError(f"{str(directory)!r} is not an EGAT checkpoint "
                              f"(kind {config.get('kind')!r})")
    try:
        model: Egat | DenseNet
        if config.get("arch", "egat") == "dnn":
            model = DenseNet(DnnConfig(**config["model"]))
        else:
            model = Egat(EgatConfig(**config["model"]))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"checkpoint {str(directory)!r} does not fit EGAT: {first}") from None
    return model.eval(), metadata
