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
        """``z (B, K, d)``, ``bias (B, H, K, K)``, ``edge_value (B, H, e, K, K)`` -> (B, K, d).

        ``bias`` and ``edge_value`` are contiguous in the last two axes (one
        receiver row k, its transmitters j), so the score add, the softmax
        and the edge-value aggregation read memory in order.
        """
        b, k, d = z.shape
        h, hd = self.heads, self.head_dim
        q, key, v = self.qkv(z).view(b, k, 3, h, hd).permute(2, 0, 3, 1, 4)  # (B, H, K, hd)
        # bias + Q K^T / sqrt(d_h) in one kernel (eq. 4)
        scores = torch.baddbmm(bias.reshape(b * h, k, k), q.reshape(b * h, k, hd),
                               key.reshape(b * h, k, hd).transpose(1, 2), alpha=hd**-0.5)
        att = scores.softmax(dim=-1)  # (B H, K, K)
        out = self.out(torch.bmm(att, v.reshape(b * h, k, hd)).view(b, h, k, hd)
                       .transpose(1, 2).reshape(b, k, d))
        if self.edge_out is None or edge_value is None:
            return out
        agg = (edge_value * att.view(b, h, 1, k, k)).sum(dim=-1)  # (B, H, e, K)
        return out + self.edge_out(agg.permute(0, 3, 1, 2).reshape(b, k, -1))


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
        for layer, (bias, value) in zip(self.layers, self.edge_terms(edge), strict=True):
            z = layer(z, bias, value)
        return self.norm(z)

    def edge_terms(self, edge: Tensor) -> list[tuple[Tensor, Tensor | None]]:
        """Every layer's bias projector on ``edge (B, K, K, 2)``.

        Channels first: each layer's biases come out as contiguous
        ``(B, H, K, K)`` and its edge values as ``(B, H, e, K, K)``. Both
        linear layers carry their bias as one more input column against a
        constant-one channel (the first layer maps ``[e_kj, 1]`` and a unit
        row keeps a one through the ReLU for the second), so each layer is
        one plain batched product: no pass copying a broadcast bias into a
        ``(B, b_h, K K)`` output first. Biases and edge values come from
        separate products, so the backward pass writes each gradient once
        (slices of one output tensor would zero-fill and copy a
        ``(B, H (1 + e), K K)`` gradient per layer; at K = 80, batch 64 that
        was a fifth of a pre-training step). The same weights and arithmetic
        as ``proj(edge)`` per layer, within float rounding.
        """
        b, k = edge.shape[0], edge.shape[1]
        h, e = self.cfg.heads, self.cfg.edge_value_dim
        ones = torch.ones(b, 1, k * k, dtype=edge.dtype, device=edge.device)
        edge_cf = torch.cat([edge.reshape(b, k * k, 2).transpose(1, 2), ones], 1)  # (B, 3, K K)
        terms: list[tuple[Tensor, Tensor | None]] = []
        for proj in self.bias_proj:
            first, second = proj[0], proj[2]  # type: ignore[index]
            w1 = _with_bias(first.weight, first.bias, unit_row=True)  # (b_h + 1, 3)
            # a 3-wide inner product: one (b_h + 1) x 3 by 3 x (B K K) product (einsum
            # folds the batch into the columns), 2-3x faster than B small ones
            hidden = torch.relu_(torch.einsum("oc,bcn->bon", w1, edge_cf))  # (B, b_h + 1, K K)
            w2 = _with_bias(second.weight, second.bias, unit_row=False)  # (H (1 + e), b_h + 1)
            bias = torch.bmm(w2[:h].expand(b, -1, -1), hidden).view(b, h, k, k)
            value = (torch.bmm(w2[h:].expand(b, -1, -1), hidden).view(b, h, e, k, k)
                     if e else None)
            terms.append((bias, value))
        return terms


def _with_bias(weight: Tensor, bias: Tensor, unit_row: bool) -> Tensor:
    """``[W | b]`` (out, in + 1); ``unit_row`` appends ``[0 ... 0 | 1]``, an output that
    is 1 for the constant-one input (and stays 1 through a ReLU)."""
    rows = torch.cat([weight, bias[:, None]], 1)
    if not unit_row:
        return rows
    unit = torch.zeros(1, rows.shape[1], dtype=rows.dtype, device=rows.device)
    unit[0, -1] = 1.0
    return torch.cat([rows, unit])
