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

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import NamedTuple

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


class EdgeValues(NamedTuple):
    """One layer's edge values (our extension) in the reordered form of :class:`BiasAttention`.

    The edge values are ``phi_V(e_kj) = W_v u_kj + b_v`` per head, with ``u_kj`` the
    bias projector's hidden layer (its ReLU output) on edge (k, j). They are not
    materialised: the attention aggregates ``u`` first (module docstring of
    :class:`BiasAttention`).

    Attributes:
        hidden: ``(B K, K, b_h)``: ``u`` of edge (k, j) of snapshot b at ``[b K + k, j]``
            (a strided view of channels-first storage in inference, contiguous in
            training: :mod:`rrm.models.gfm.edge_projector`).
        weight: ``(H, e, b_h)`` ``W_v``, the projector's edge-value output rows per head.
        bias: ``(H, e)`` ``b_v``.
    """

    hidden: Tensor
    weight: Tensor
    bias: Tensor


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

    Edge values, reordered: head h of receiver k aggregates ``sum_j A_kj
    (W_v u_kj + b_v) = W_v T_k + b_v`` with ``T_k = sum_j A_kj u_kj`` (the
    softmax rows sum to one), and ``edge_out`` follows linearly, so one
    ``(B K) x H x K`` by ``K x b_h`` product and one ``(H b_h) -> d`` projection
    with the folded weight ``W_eo blockdiag(W_v)`` replace the ``H e x b_h``
    product over all K^2 edges and the ``(B, H, e, K, K)`` multiply-sum (4x
    fewer flops on the value path for H = e = 4; the same model, within
    float rounding; bench/results/gfm_decide.md).
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

    def forward(self, z: Tensor, bias: Tensor, edge_value: EdgeValues | None = None) -> Tensor:
        """``z (B, K, d)``, ``bias (B, H, K, K)`` -> ``(B, K, d)``.

        The heads are the outer batch axis (``(H B, K, K)`` scores), so a
        ``bias`` stored as ``(H, B, K, K)`` (a transposed view, as
        :meth:`GFMBackbone.edge_terms` makes it) enters without a copy; any
        other layout is copied once.
        """
        b, k, d = z.shape
        h, hd = self.heads, self.head_dim
        # one copy into (3, H B, K, hd); q, k, v are contiguous views of it
        q, key, v = self.qkv(z).view(b, k, 3, h, hd).permute(2, 3, 0, 1, 4).reshape(
            3, h * b, k, hd).unbind(0)
        # bias + Q K^T / sqrt(d_h) in one kernel (eq. 4)
        scores = torch.baddbmm(bias.transpose(0, 1).reshape(h * b, k, k), q,
                               key.transpose(1, 2), alpha=hd**-0.5)
        att = scores.softmax(dim=-1)  # (H B, K, K)
        heads = torch.bmm(att, v).view(h, b, k, hd).permute(1, 2, 0, 3).reshape(b * k, d)
        if self.edge_out is None or edge_value is None:
            return self.out(heads).view(b, k, d)
        # T[(b, k), h] = sum_j A_hkj u_kj: batch (b, k) has one stride in both operands
        t = torch.bmm(att.view(h, b * k, k).transpose(0, 1), edge_value.hidden)  # (B K, H, b_h)
        return self._project(heads, t, edge_value).view(b, k, d)

    def _project(self, heads: Tensor, t: Tensor, edge_value: EdgeValues) -> Tensor:
        """``out(heads) + edge_out(W_v T + b_v)`` as two accumulating products:
        ``heads (B K, d)``, ``t (B K, H, b_h)`` -> ``(B K, d)``."""
        assert self.edge_out is not None
        # weights only, sizes from Python ints: a frozen graph folds these into constants
        w_eo = self.edge_out.weight  # (d, H e)
        h = self.heads
        folded = torch.einsum("dhe,hem->dhm", w_eo.view(-1, h, w_eo.shape[1] // h),
                              edge_value.weight)  # (d, H, b_h)
        shift = torch.addmv(self.edge_out.bias + self.out.bias, w_eo,
                            edge_value.bias.flatten())  # (d,)
        y = torch.addmm(shift, heads, self.out.weight.t())
        return torch.addmm(y, t.flatten(1), folded.flatten(1).t())


class GraphTransformerLayer(nn.Module):
    """Pre-LN attention + FFN block with residuals."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attention = BiasAttention(cfg.dim, cfg.heads, cfg.edge_value_dim)
        self.ffn = mlp(cfg.dim, cfg.ffn_mult * cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z: Tensor, bias: Tensor, edge_value: EdgeValues | None = None) -> Tensor:
        """``(B, K, d)`` -> ``(B, K, d)``; ``bias (B, H, K, K)``."""
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
        """Node embeddings ``(B, K, d)``; ``masked (B, K, K)`` hides extra edges.

        Training on the CPU (gradients on, the mask token trainable) takes the
        edge terms from :func:`~rrm.models.gfm.edge_projector.training_edge_terms`
        (the same function, laid out for the backward pass); inference and
        frozen graphs take :meth:`edge_terms`.
        """
        if (torch.is_grad_enabled() and self.mask_token.requires_grad
                and g.edge.device.type == "cpu"):
            from rrm.models.gfm.edge_projector import training_edge_terms  # imports us

            terms = training_edge_terms(self, g, masked)
        else:
            terms = self.edge_terms(self.edge_input(g, masked))
        z = self.node_enc(g.node)  # (B, K, d)
        for layer, (bias, value) in zip(self.layers, terms, strict=True):
            z = layer(z, bias, value)
        return self.norm(z)

    def edge_terms(self, edge: Tensor) -> Iterator[tuple[Tensor, EdgeValues | None]]:
        """Every layer's bias projector on ``edge (B, K, K, 2)``, one layer at a time.

        Channels first with the batch inside: the edges form the columns of
        ``(3, B K K)`` (``[e_kj, 1]``), each layer's hidden layer is one
        ``(b_h + 1) x 3`` product (``(b_h + 1, B K K)``; the bias of the first
        linear layer rides on the constant-one input and a unit row keeps a one
        through the ReLU for the second) and its biases one ``H x (b_h + 1)``
        product, stored ``(H, B, K, K)`` and returned as a ``(B, H, K, K)`` view
        (the layout :class:`BiasAttention` reads without a copy). The edge
        values stay unexpanded (:class:`EdgeValues`: the hidden layer and the
        projector's value rows). A layer's terms are made just before that
        layer runs, so its hidden layer is still in cache when the attention
        aggregates it. Per layer the same weights and arithmetic as
        ``proj(edge)``, within float rounding. One product for all layers' first
        projector layers measured slower (its ``(3 (b_h + 1), B K K)`` output
        leaves the cache: 174 vs 3 x 47 us at K = 80, 1.30 vs 3 x 0.19 ms at 8 x K = 50).
        """
        b, k = edge.shape[0], edge.shape[1]
        h, e = self.cfg.heads, self.cfg.edge_value_dim
        n = b * k * k
        ones = torch.ones(1, n, dtype=edge.dtype, device=edge.device)
        edge_cf = torch.cat([edge.reshape(n, 2).t(), ones])  # (3, B K K)
        for proj in self.bias_proj:
            first, second = proj[0], proj[2]  # type: ignore[index]
            w1 = _with_bias(first.weight, first.bias, unit_row=True)  # (b_h + 1, 3)
            hidden = torch.relu_(torch.mm(w1, edge_cf))  # (b_h + 1, B K K)
            w2 = _with_bias(second.weight[:h], second.bias[:h], unit_row=False)  # (H, b_h + 1)
            bias = torch.mm(w2, hidden)  # (H, B K K)
            bias = bias.view(h, b, k, k).transpose(0, 1)  # (B, H, K, K) view
            value = None
            if e:
                bh = self.cfg.bias_hidden
                u = hidden[:bh].view(bh, b * k, k).permute(1, 2, 0)  # (B K, K, b_h) view
                value = EdgeValues(u, second.weight[h:].view(h, e, bh),
                                   second.bias[h:].view(h, e))
            yield bias, value


def _with_bias(weight: Tensor, bias: Tensor, unit_row: bool) -> Tensor:
    """``[W | b]`` (out, in + 1); ``unit_row`` appends ``[0 ... 0 | 1]``, an output that
    is 1 for the constant-one input (and stays 1 through a ReLU)."""
    rows = torch.cat([weight, bias[:, None]], 1)
    if not unit_row:
        return rows
    # out of place (no index assignment), so a frozen graph folds it into a constant
    zeros = torch.zeros(1, weight.shape[1], dtype=rows.dtype, device=rows.device)
    return torch.cat([rows, torch.cat([zeros, torch.ones_like(zeros[:, :1])], 1)])
