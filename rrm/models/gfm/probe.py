"""What the GFM-RA backbone attends to: per layer and head, attention and edge bias of a link.

The backbone is re-run on one snapshot with forward hooks on each layer's
:class:`rrm.models.gfm.backbone.BiasAttention`; a hook sees the layer's
input ``z (B, K, d)`` and bias ``(B, H, K, K)`` and recomputes the softmax of
eq. (10), ``att = softmax(q k^T / sqrt(d_h) + bias)`` over the neighbours
``j`` of receiver ``k``. Nothing in the model changes; used by ``rrm explain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rrm.core.types import InterferenceState
from rrm.models.gfm.backbone import BiasAttention, GFMBackbone
from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.head import GFMPowerModel
from rrm.models.gfm.policy import CHECKPOINTS, DEFAULT_CHECKPOINTS, DEFAULT_SUM_CHECKPOINT
from rrm.models.gfm.store import load_power_model


@dataclass(frozen=True)
class LayerAttention:
    """One layer's view from one receiver.

    Attributes:
        attention: ``[H, K]`` float, softmax weight head h gives neighbour j (rows sum to 1).
        bias: ``[H, K]`` float, the additive edge bias from the bias projector.
    """

    attention: np.ndarray
    bias: np.ndarray


def load_for_probe(checkpoint: str | Path | None, objective: str) -> GFMPowerModel | None:
    """The model a ``gfm`` policy would use (None when it is not an attention backbone)."""
    path = Path(checkpoint) if checkpoint else CHECKPOINTS / DEFAULT_CHECKPOINTS.get(
        objective, DEFAULT_SUM_CHECKPOINT)
    model, _ = load_power_model(path)
    return model.eval() if isinstance(model.backbone, GFMBackbone) else None


def _scores(module: BiasAttention, z: Tensor, bias: Tensor) -> Tensor:
    """Attention weights ``(B, H, K, K)`` of eq. (10), as ``module.forward`` computes them."""
    b, k, _ = z.shape
    q, key, _v = module.qkv(z).view(b, k, 3, module.heads, module.head_dim).permute(2, 0, 3, 1, 4)
    return (q @ key.transpose(-1, -2) / module.head_dim**0.5 + bias).softmax(dim=-1)


@torch.inference_mode()
def link_attention(model: GFMPowerModel, state: InterferenceState,
                   link: int) -> list[LayerAttention]:
    """Per layer, the heads' attention and bias from receiver ``link`` to every transmitter.

    Args:
        model: a fine-tuned GFM-RA model with a :class:`GFMBackbone`.
        state: one snapshot (``gains [K, K]``).
        link: the receiver k whose row is returned.
    """
    backbone = model.backbone
    assert isinstance(backbone, GFMBackbone)
    rows: list[LayerAttention] = []

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], _out: Tensor) -> None:
        assert isinstance(module, BiasAttention)
        z, bias = inputs[0], inputs[1]
        att = _scores(module, z, bias)  # (B, H, K, K)
        rows.append(LayerAttention(att[0, :, link].double().numpy(),
                                   bias[0, :, link].double().numpy()))

    attentions = [m for m in backbone.modules() if isinstance(m, BiasAttention)]
    handles = [m.register_forward_hook(hook) for m in attentions]
    try:
        g = torch.from_numpy(np.asarray(state.gains, dtype=np.float64)[None])
        mask = None if state.csi_mask is None else torch.from_numpy(
            np.asarray(state.csi_mask, bool)[None].copy())
        k = state.num_links
        batch = graph_batch(g, torch.from_numpy(state.noise_per_link.reshape(1, k).copy()),
                            torch.from_numpy(state.pmax_per_link.reshape(1, k).copy()), mask)
        backbone(batch)
    finally:
        for h in handles:
            h.remove()
    return rows
