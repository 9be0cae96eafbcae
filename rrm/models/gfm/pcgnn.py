"""PCGNN: the message-passing power-control GNN of Shen et al. (IEEE JSAC 2021), a baseline.

EdgeConv-style layers with max aggregation and batch norm, as in the
authors' public power-control variant::

    m_kj = MLP1([z_j, e_kj])                 message from transmitter j to node k
    a_k  = max_{j != k, e_kj known} m_kj      max aggregation
    z_k  = BN(MLP2([z_k, a_k]))               update

It exposes the backbone interface of :class:`rrm.models.gfm.backbone.GFMBackbone`
(``cfg.dim``, ``forward(graph) -> (B, K, d)``) so the same power head, the
same fine-tuning loop and the same checkpoints serve both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rrm.models.gfm.backbone import mlp
from rrm.models.gfm.features import GraphBatch


@dataclass(frozen=True)
class PCGNNConfig:
    """Sizes of the MPNN."""

    layers: int = 3
    dim: int = 32

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)


class EdgeConvLayer(nn.Module):
    """One message-passing layer (max aggregation, batch norm)."""

    def __init__(self, dim: int, inp: int) -> None:
        super().__init__()
        self.message = mlp(inp + 2, dim, dim)
        self.update = mlp(inp + dim, dim, dim)
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, z: Tensor, edge: Tensor, known: Tensor) -> Tensor:
        """``z (B, K, f)``, ``edge (B, K, K, 2)``, ``known (B, K, K)`` -> ``(B, K, d)``."""
        b, k, f = z.shape
        zj = z.unsqueeze(1).expand(b, k, k, f)  # [b, k, j] = z_j
        m = self.message(torch.cat([zj, edge], dim=-1))  # (B, K, K, d)
        keep = known & ~torch.eye(k, dtype=torch.bool)
        m = m.masked_fill(~keep.unsqueeze(-1), float("-inf"))
        agg = m.max(dim=2).values
        agg = torch.where(torch.isfinite(agg), agg, torch.zeros_like(agg))  # K = 1: no neighbours
        out = self.update(torch.cat([z, agg], dim=-1))
        return self.norm(out.reshape(b * k, -1)).reshape(b, k, -1)


class PCGNN(nn.Module):
    """Stack of EdgeConv layers on the interference graph."""

    def __init__(self, cfg: PCGNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = [1] + [cfg.dim] * cfg.layers
        self.layers = nn.ModuleList(EdgeConvLayer(cfg.dim, dims[i]) for i in range(cfg.layers))

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]

    def forward(self, g: GraphBatch, masked: Tensor | None = None) -> Tensor:
        """Node embeddings ``(B, K, d)``."""
        known = g.known if masked is None else g.known & ~masked
        z = g.node
        for layer in self.layers:
            z = layer(z, g.edge, known)
        return z
