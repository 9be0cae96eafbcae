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
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone, mlp
from rrm.models.gfm.edge_loss import fused_masked_edge_loss
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
    """``(B, K, K)`` bool: a random ``ratio`` of the known off-diagonal edges.

    Drawn on ``known``'s device (``generator`` must live there too): no host
    round trip per step.
    """
    k = known.shape[-1]
    off = known & ~torch.eye(k, dtype=torch.bool, device=known.device)
    draw = torch.rand(known.shape, generator=generator, device=known.device) < ratio
    return off & draw


class EdgeDecoder(nn.Module):
    """Predicts an edge's features from its endpoints' embeddings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = mlp(3 * dim, dim, 2)

    def forward(self, z: Tensor, edges: Tensor) -> Tensor:
        """``z (B, K, d)``, ``edges (M, 3)`` rows (batch, k, j) -> ``(M, 2)``.

        ``net([z_k, z_j, z_k * z_j])`` with the first layer split by blocks,
        ``W [z_k; z_j; z_k z_j] = W_1 z_k + W_2 z_j + W_3 (z_k z_j)``: the
        ``W_1``, ``W_2`` products (and the bias) are taken per node (K), not
        per edge (M). Each edge gathers its rows of the flattened ``(B K, d)``
        node tables with ``index_select`` (whose backward is one
        ``index_add`` into a ``(B K, d)`` gradient, not an accumulating
        scatter per gather, nor a zero-filled ``(M, .)`` buffer per slice).
        """
        own, other, w_pair, bias = self._split(z)
        b, k, d = z.shape
        rx, tx = edges[:, 0] * k + edges[:, 1], edges[:, 0] * k + edges[:, 2]  # (M,)
        nodes = z.reshape(b * k, d)
        pair = nodes.index_select(0, rx) * nodes.index_select(0, tx)  # (M, d): z_k * z_j
        hidden = torch.addmm((own + bias).reshape(b * k, d).index_select(0, rx)
                             + other.reshape(b * k, d).index_select(0, tx),
                             pair, w_pair.T)  # (M, d)
        return self.net[2](self.net[1](hidden))  # (M, 2)

    def _split(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``W_1 z``, ``W_2 z`` per node ``(B, K, d)``, ``W_3 (d, d)`` and the first bias."""
        first = cast(nn.Linear, self.net[0])
        w, d = first.weight, z.shape[-1]  # (d, 3d)
        return z @ w[:, :d].T, z @ w[:, d : 2 * d].T, w[:, 2 * d :], first.bias

    def dense(self, z: Tensor) -> Tensor:
        """``z (B, K, d)`` -> ``(B, K, K, 2)``: the same map on every pair (GPU form)."""
        own, other, w_pair, bias = self._split(z)
        pair = (z[:, :, None, :] * z[:, None, :, :]) @ w_pair.T  # (B, K, K, d)
        hidden = own[:, :, None, :] + other[:, None, :, :] + pair + bias
        return self.net[2](self.net[1](hidden))


def masked_edge_loss(decoder: EdgeDecoder, z: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    """MSE between decoded and true features over the masked edges only.

    ``z (B, K, d)``, ``target (B, K, K, 2)``, ``masked (B, K, K)`` bool. On a
    GPU every pair is decoded and the masked ones averaged (no ``nonzero``,
    so no host synchronisation); on the CPU only the masked pairs are
    decoded (about ``rho`` of the work), fused in cache-sized chunks with
    its gradients (:mod:`rrm.models.gfm.edge_loss`). Both are the same mean.
    """
    if z.is_cuda:
        weight = masked.unsqueeze(-1).to(z.dtype)  # (B, K, K, 1)
        err = (decoder.dense(z).float() - target.float()) ** 2 * weight
        return err.sum() / (2 * weight.sum()).clamp_min(1.0)
    flat = masked.flatten().nonzero().squeeze(1)  # (M,): (b K + k) K + j
    if not len(flat):
        return z.sum() * 0.0
    k = masked.shape[-1]
    rows = target.reshape(-1, target.shape[-1]).index_select(0, flat)  # (M, 2)
    rx, tx = flat // k, flat // (k * k) * k + flat % k  # (M,): rows b K + k, b K + j
    first, out = cast(nn.Linear, decoder.net[0]), cast(nn.Linear, decoder.net[2])
    return fused_masked_edge_loss(z.reshape(-1, z.shape[-1]), first.weight, first.bias,
                                  out.weight, out.bias, rows, rx, tx)


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

    def accumulate_gradients(self, g: GraphBatch, masked: Tensor, edges_per_pass: int
                             ) -> Tensor:
        """Backward of ``L_edge + lambda L_cl`` for the whole batch, taken over slices
        of whole snapshots (about ``edges_per_pass`` edges each); the detached ``(2,)``
        ``[L_edge, L_cl]`` of the whole batch.

        Every snapshot's embeddings depend on that snapshot alone, and both losses
        are means (``L_edge`` over the masked edges, ``L_cl`` over the nodes), so
        the batch's loss is ``sum_s (M_s / M) L_edge,s + lambda (B_s / B) L_cl,s``
        over the slices ``s`` (``M_s`` masked edges, ``B_s`` snapshots): the same
        loss and, accumulated slice by slice, the same gradient, while each
        slice's ``(c, B_s K^2)`` edge tensors stay in cache (a K = 80 batch of 64
        is 409,600 edges, 26 MB per 16-channel tensor). The caller zeroes the
        gradients first.
        """
        b, k = masked.shape[0], masked.shape[-1]
        size = max(1, edges_per_pass // (k * k))  # snapshots per slice
        total = masked.sum().clamp_min(1)  # M (a zero-mask batch has L_edge = 0)
        sums = torch.zeros(2, device=masked.device)
        for lo in range(0, b, size):
            part = slice(lo, lo + size)
            loss_edge, loss_cl = self.losses(_snapshots(g, part), masked[part])
            w_edge, w_cl = masked[part].sum() / total, (min(b, lo + size) - lo) / b
            (w_edge * loss_edge + self.cfg.cl_weight * w_cl * loss_cl).backward()
            sums += torch.stack([w_edge * loss_edge.detach(), w_cl * loss_cl.detach()])
        return sums

    def forward(self, g: GraphBatch, masked: Tensor) -> Tensor:
        """``(2,)``: ``[L_edge, L_cl]`` (a module output so DDP can wrap the pre-trainer)."""
        loss_edge, loss_cl = self.losses(g, masked)
        return torch.stack([loss_edge, loss_cl])

    @torch.no_grad()
    def update_teacher(self) -> None:
        """EMA step: ``theta_t <- tau theta_t + (1 - tau) theta_s``."""
        tau = self.cfg.ema_decay
        teacher: list[Tensor] = [*self.teacher_backbone.parameters(),
                                 *self.teacher_projector.parameters()]
        student: list[Tensor] = [*self.backbone.parameters(), *self.projector.parameters()]
        # one fused kernel per op over all tensors (no Python loop per parameter)
        torch._foreach_mul_(teacher, tau)
        torch._foreach_add_(teacher, student, alpha=1 - tau)


def _snapshots(g: GraphBatch, part: slice) -> GraphBatch:
    """Snapshots ``part`` of a batch (views, no copy)."""
    return GraphBatch(g.node[part], g.edge[part], g.known[part], g.gains[part],
                      g.noise_w[part], g.pmax_w[part])
