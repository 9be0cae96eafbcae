"""Building GFM-RA models from named choices: a backbone configuration from a
preset, and the power model to fine-tune (pre-trained backbone, a fresh one, or
the PCGNN baseline). The ``rrm gfm`` commands call these; so can scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rrm.core.errors import InvalidInput
from rrm.models.gfm.backbone import PRESETS, BackboneConfig, GFMBackbone
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.store import load_backbone

ARCHS = ("gfm", "pcgnn")


def backbone_config(preset: str, **overrides: int | None) -> BackboneConfig:
    """``PRESETS[preset]`` with every non-None override (layers, dim, heads, ...) applied.

    Raises :class:`InvalidInput` with the configuration's own one-line reason
    (e.g. ``dim`` not divisible by ``heads``).
    """
    base = PRESETS[preset].as_dict()
    base |= {key: value for key, value in overrides.items() if value is not None}
    try:
        return BackboneConfig(**base)  # type: ignore[arg-type]
    except ValueError as err:
        raise InvalidInput(str(err)) from None


def power_model(arch: str = "gfm", backbone: str | Path | None = None,
                edge_value_dim: int = 0, switchable: bool = False) -> GFMPowerModel:
    """A power model to fine-tune: the PCGNN baseline (always from scratch) for
    ``arch="pcgnn"``, else GFM-RA on the pre-trained ``backbone`` checkpoint, or
    on a fresh small backbone with ``edge_value_dim`` edge values per head."""
    net: Any
    if arch == "pcgnn":
        from rrm.models.gfm.pcgnn import PCGNN, PCGNNConfig

        net = PCGNN(PCGNNConfig())
    elif arch != "gfm":
        raise InvalidInput(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    elif backbone:
        net, _ = load_backbone(backbone)
    else:
        net = GFMBackbone(backbone_config("small", edge_value_dim=edge_value_dim))
    return GFMPowerModel(net, PowerHead(net.cfg.dim, switchable=switchable))
