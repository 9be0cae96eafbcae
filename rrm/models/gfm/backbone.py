"""The interference-aware graph Transformer of GFM-RA (sec. III-A).

Notation:

=============  ============================================================
name           paper
=============  ============================================================
``node_enc``   node encoder, a 2-layer MLP on the direct-link state
``bias_proj``  bias projector: edge features ``[h_kj, h_jk]`` -> one bias
               per head, added to the attention scores (eq. 4)
``mask_token`` learnable edge feature standing in for a masked (pre-training)
               or unreported (missing CSI) edge
=============  ============================================================

Each layer (pre-LN)::

    A_h = softmax(Q_h K_h^T / sqrt(d_h) + B_h)            (eq. 4)
    z   = z + W_o [A_1 V_1 | ... | A_H V_H]
    z   = z + FFN(LN(z))

Dense graphs of one size per batch: every op is permutation-equivariant in
the nodes (tested). Presets: ``small`` (fits the CPU slot budget) and
``paper`` (L = 6, d = 768, 32 heads, Table I); ``--layers/--dim/--heads``
give the other sizes of Fig. 9.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rrm.models.gfm.features import GraphBatch


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone size (Table I for ``paper``)."""

    layers: int = 3
    dim: int = 64
    heads: int = 4
    ffn_mult: int = 2
    dropout: float = 0.0
    # The bias projector runs on all K^2 edges: its width dominates the cost at K=80.
    bias_hidden: int = 16
    # Our extension (not in the paper): each head also aggregates a small
    # projection of the edge features, sum_j A_kj phi_V(e_kj), next to the node
    # values, so interference strengths reach the embeddings as values, not only
    # as attention weights. 0 = the paper's eq. (5) exactly.
    edge_value_dim: int = 0

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if self.edge_value_dim < 0:
            raise ValueError(f"edge_value_dim must be >= 0, got {self.edge_value_dim}")

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)


PRESETS = {
    "small": BackboneConfig(layers=3, dim=64, heads=4),
    "paper": BackboneConfig(layers=6, dim=768, heads=32, ffn_mult=4, bias_hidden=64),  # Table I
}


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    """Two linear layers with a ReLU between."""
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, out))


class BiasAttention(nn.Module):
    """Multi-head self-attention over all nodes with an additive per-head edge bias.

    Dense on purpose: every pair (k, j) carries a bias, so the attention
    graph is complete (E = K^2) and a sparse form has no zeros to skip; it
    only replaces one batched matmul by per-edge gathers and scatters. One
    layer of ``gfm-small-sum``, dense vs a PyG equivalent over an
    ``edge_index`` of all pairs (``torch_geometric.utils.softmax`` +
    ``scatter``), median of 20 calls, one thread, shared 2-core CPU
    (``bench/bench_graph_ops.py``, bench/results/graph_ops.md)::

        K    batch   dense ms   sparse ms
        20   1       0.16       0.49
        20   8       0.38       6.50
        50   1       0.34       4.61
        50   8       1.27       23.52
        80   1       0.28       5.95
        80   8       1.43       55.06

    Sparse is 3x to 38x slower (outputs equal within 2.4e-7).
    """

    def __init__(self, dim: int, heads: int, edge_value_dim: int = 0) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.edge_out = nn.Linear(heads * edge_value_dim, dim) if edge_value_dim else None

    def reset_parameters(self) -> None:
        """Re-initialise the projections."""
        self.qkv.reset_parameters()
        self.out.reset_parameters()
        if self.edge_out is not None:
            self.edge_out.reset_parameters()

    def forward(self, z: Tensor, bias: Tensor, edge_value: Tensor | None = None) -> Tensor:
        """``z (B, K, d)``, ``bias (B, H, K, K)``, ``edge_value (B, H, K, K, e)`` -> (B, K, d)."""
        b, k, d = z.shape
        q, key, v = self.qkv(z).view(b, k, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ key.transpose(-1, -2) / self.head_dim**0.5 + bias  # (B, H, K, K)
        att = scores.softmax(dim=-1)
        out = self.out((att @ v).transpose(1, 2).reshape(b, k, d))
        if self.edge_out is None or edge_value is None:
            return out
        agg = (att.unsqueeze(-1) * edge_value).sum(dim=3)  # (B, H, K, e)
        return out + self.edge_out(agg.transpose(1, 2).reshape(b, k, -1))


class GraphTransformerLayer(nn.Module):
    """Pre-LN attention + FFN block with residuals."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attention = BiasAttention(cfg.dim, cfg.heads, cfg.edge_value_dim)
        self.ffn = mlp(cfg.dim, cfg.ffn_mult * cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z: Tensor, bias: Tensor, edge_value: Tensor | None = None) -> Tensor:
        """``(B, K, d)`` -> ``(B, K, d)``."""
        z = z + self.drop(self.attention(self.norm1(z), bias, edge_value))
        return z + self.drop(self.ffn(self.norm2(z)))


class GFMBackbone(nn.Module):
    """Node encoder + bias projector + L graph Transformer layers."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.node_enc = mlp(1, cfg.dim, cfg.dim)
        # one projector per layer: H attention biases (+ H x e edge values, our extension)
        width = cfg.heads * (1 + cfg.edge_value_dim)
        self.bias_proj = nn.ModuleList(mlp(2, cfg.bias_hidden, width) for _ in range(cfg.layers))
        self.mask_token = nn.Parameter(torch.zeros(2))
        self.layers = nn.ModuleList(GraphTransformerLayer(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)

    def reset_parameters(self) -> None:
        """Re-initialise every learnable tensor."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]
        nn.init.zeros_(self.mask_token)

    def edge_input(self, g: GraphBatch, masked: Tensor | None = None) -> Tensor:
        """Edge features with unknown (and ``masked``) edges replaced by the mask token."""
        hidden = ~g.known if masked is None else (~g.known | masked)
        return torch.where(hidden.unsqueeze(-1), self.mask_token.to(g.edge.dtype), g.edge)

    def forward(self, g: GraphBatch, masked: Tensor | None = None) -> Tensor:
        """Node embeddings ``(B, K, d)``; ``masked (B, K, K)`` hides extra edges."""
        edge = self.edge_input(g, masked)  # (B, K, K, 2)
        z = self.node_enc(g.node)  # (B, K, d)
        b, k, h = edge.shape[0], edge.shape[1], self.cfg.heads
        for layer, proj in zip(self.layers, self.bias_proj, strict=True):
            out = proj(edge)  # (B, K, K, H (1 + e))
            bias = out[..., :h].permute(0, 3, 1, 2)  # (B, H, K, K)
            value = None
            if self.cfg.edge_value_dim:
                value = out[..., h:].reshape(b, k, k, h, -1).permute(0, 3, 1, 2, 4)  # (B,H,K,K,e)
            z = layer(z, bias, value)
        return self.norm(z)
