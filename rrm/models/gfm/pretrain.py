"""Hybrid pre-training of GFM-RA (sec. III-B, Algorithm 1).

* Masked edge prediction: a share ``rho`` of the known cross edges is hidden
  behind the learnable mask token; an edge decoder predicts their features
  from the two endpoint embeddings; the loss is the MSE on masked edges only.
* Negative-free teacher-student consistency: the student sees the masked
  graph, the teacher (an EMA copy of backbone + projector, no gradient) the
  full one; a predictor on the student side only; loss ``2 - 2 cos``.
* Total ``L = L_edge + lambda L_cl`` (Table I: rho 0.3, tau 0.996, lambda 0.1).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone, mlp
from rrm.models.gfm.features import GraphBatch


@dataclass(frozen=True)
class PretrainConfig:
    """Pre-training hyper-parameters (Table I defaults)."""

    mask_ratio: float = 0.3  # rho
    ema_decay: float = 0.996  # tau
    cl_weight: float = 0.1  # lambda
    lr: float = 1e-4  # Table I
    lr_factor: float = 0.5  # plateau decay factor
    lr_patience: int = 10  # epochs

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)


def sample_edge_mask(known: Tensor, ratio: float, generator: torch.Generator | None = None
                     ) -> Tensor:
    """``(B, K, K)`` bool: a random ``ratio`` of the known off-diagonal edges."""
    k = known.shape[-1]
    off = known & ~torch.eye(k, dtype=torch.bool)
    draw = torch.rand(known.shape, generator=generator) < ratio
    return off & draw


class EdgeDecoder(nn.Module):
    """Predicts an edge's features from its endpoints' embeddings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = mlp(3 * dim, dim, 2)

    def forward(self, z: Tensor, edges: Tensor) -> Tensor:
        """``z (B, K, d)``, ``edges (M, 3)`` rows (batch, k, j) -> ``(M, 2)``."""
        zk, zj = z[edges[:, 0], edges[:, 1]], z[edges[:, 0], edges[:, 2]]
        return self.net(torch.cat([zk, zj, zk * zj], dim=-1))


def masked_edge_loss(decoder: EdgeDecoder, z: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    """MSE between decoded and true features over the masked edges only.

    ``z (B, K, d)``, ``target (B, K, K, 2)``, ``masked (B, K, K)`` bool.
    """
    edges = masked.nonzero()  # (M, 3)
    if not len(edges):
        return z.sum() * 0.0
    pred = decoder(z, edges)
    return F.mse_loss(pred, target[edges[:, 0], edges[:, 1], edges[:, 2]])


class HybridPretrainer(nn.Module):
    """Student backbone + heads, EMA teacher, and the two losses."""

    def __init__(self, backbone_cfg: BackboneConfig, cfg: PretrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = backbone_cfg.dim
        self.backbone = GFMBackbone(backbone_cfg)
        self.decoder = EdgeDecoder(d)
        self.projector = mlp(d, d, d)
        self.predictor = mlp(d, d, d)
        self.teacher_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.teacher_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def losses(self, g: GraphBatch, masked: Tensor) -> tuple[Tensor, Tensor]:
        """``(L_edge, L_cl)`` for one batch and one edge mask."""
        z = self.backbone(g, masked)  # (B, K, d)
        loss_edge = masked_edge_loss(self.decoder, z, g.edge, masked)
        with torch.no_grad():
            target_proj = self.teacher_projector(self.teacher_backbone(g))
        online = self.predictor(self.projector(z))
        loss_cl = (2 - 2 * F.cosine_similarity(online, target_proj, dim=-1)).mean()
        return loss_edge, loss_cl

    def forward(self, g: GraphBatch, masked: Tensor) -> Tensor:
        """``(2,)``: ``[L_edge, L_cl]`` (a module output so DDP can wrap the pre-trainer)."""
        loss_edge, loss_cl = self.losses(g, masked)
        return torch.stack([loss_edge, loss_cl])

    @torch.no_grad()
    def update_teacher(self) -> None:
        """EMA step: ``theta_t <- tau theta_t + (1 - tau) theta_s``."""
        tau = self.cfg.ema_decay
        pairs = ((self.teacher_backbone, self.backbone), (self.teacher_projector, self.projector))
        for teacher, student in pairs:
            for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
                pt.mul_(tau).add_(ps.detach(), alpha=1 - tau)
