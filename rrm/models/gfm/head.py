"""Fine-tuning heads of GFM-RA (sec. III-C): powers ``Pmax * sigmoid(MLP(z))``.

The switchable head adds a learned objective embedding (a prompt) to each
node embedding, so one model serves sum, pf and qos chosen at run time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rrm.core.objectives import OBJECTIVE_NAMES
from rrm.models.gfm.backbone import GFMBackbone, mlp
from rrm.models.gfm.features import GraphBatch

PROMPTS = tuple(o for o in OBJECTIVE_NAMES if o != "wsr")


class PowerHead(nn.Module):
    """2-layer MLP head; optional objective prompt."""

    def __init__(self, dim: int, switchable: bool = False) -> None:
        super().__init__()
        self.net = mlp(dim, dim, 1)
        self.prompt = nn.Embedding(len(PROMPTS), dim) if switchable else None

    def forward(self, z: Tensor, pmax_w: Tensor, objective: str = "sum") -> Tensor:
        """``z (B, K, d)``, ``pmax_w (B, K)`` -> powers ``(B, K)`` in watts (float64)."""
        if self.prompt is not None:
            index = torch.tensor(PROMPTS.index(objective), device=z.device)
            z = z + self.prompt(index)
        return pmax_w * torch.sigmoid(self.net(z).squeeze(-1)).to(pmax_w.dtype)


class GFMPowerModel(nn.Module):
    """Backbone + power head: the fine-tuned GFM-RA policy network."""

    def __init__(self, backbone: GFMBackbone, head: PowerHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, g: GraphBatch, objective: str = "sum") -> Tensor:
        """Powers ``(B, K)`` in watts."""
        return self.head(self.backbone(g), g.pmax_w, objective)
