"""Saving and loading GFM-RA models as checkpoint directories (:mod:`rrm.models.checkpoint`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rrm.core.errors import CheckpointError
from rrm.models.checkpoint import load_checkpoint, save_checkpoint
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.pcgnn import PCGNN, PCGNNConfig

BACKBONE_KIND, POWER_KIND = "gfm-backbone", "gfm-power"


def save_backbone(directory: str | Path, backbone: GFMBackbone, training: dict[str, Any],
                  metadata: dict[str, Any]) -> Path:
    """A pre-trained backbone."""
    config = {"kind": BACKBONE_KIND, "backbone": backbone.cfg.as_dict(), "training": training}
    return save_checkpoint(directory, backbone.state_dict(), config, metadata)


def save_power_model(directory: str | Path, model: GFMPowerModel, training: dict[str, Any],
                     metadata: dict[str, Any]) -> Path:
    """A fine-tuned backbone + head."""
    arch = "pcgnn" if isinstance(model.backbone, PCGNN) else "gfm"
    config = {"kind": POWER_KIND, "arch": arch, "backbone": model.backbone.cfg.as_dict(),
              "switchable": model.head.prompt is not None, "training": training}
    return save_checkpoint(directory, model.state_dict(), config, metadata)


def _backbone_config(config: dict[str, Any]) -> BackboneConfig:
    try:
        return BackboneConfig(**config["backbone"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint config has no valid backbone section ({err})") from None


def load_backbone(directory: str | Path) -> tuple[GFMBackbone, dict[str, Any]]:
    """Backbone from a pre-trained (or fine-tuned) checkpoint, with its metadata."""
    state, config, metadata = load_checkpoint(directory)
    backbone = GFMBackbone(_backbone_config(config))
    if config.get("kind") == POWER_KIND:
        state = {k.removeprefix("backbone."): v for k, v in state.items()
                 if k.startswith("backbone.")}
    elif config.get("kind") != BACKBONE_KIND:
        raise CheckpointError(f"{str(directory)!r} is not a GFM checkpoint")
    _load(backbone, state, directory)
    return backbone, metadata


def load_power_model(directory: str | Path) -> tuple[GFMPowerModel, dict[str, Any]]:
    """Fine-tuned model from its checkpoint, with its metadata."""
    state, config, metadata = load_checkpoint(directory)
    if config.get("kind") != POWER_KIND:
        raise CheckpointError(f"{str(directory)!r} is not a fine-tuned GFM checkpoint "
                              f"(kind {config.get('kind')!r})")
    switchable = bool(config.get("switchable"))
    if config.get("arch") == "pcgnn":
        pcfg = PCGNNConfig(**config["backbone"])
        model = GFMPowerModel(PCGNN(pcfg), PowerHead(pcfg.dim, switchable))  # type: ignore[arg-type]
    else:
        cfg = _backbone_config(config)
        model = GFMPowerModel(GFMBackbone(cfg), PowerHead(cfg.dim, switchable))
    _load(model, state, directory)
    return model, metadata


def _load(module: Any, state: dict[str, Any], directory: str | Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"checkpoint {str(directory)!r} does not fit the model: "
                              f"{first}") from None
