"""The bias projector's training form: one layer's edge terms, edges first (sec. III-A).

Notation (one layer, ``n = B K K`` edges):

=============  ============================================================
name           paper / :class:`~rrm.models.gfm.backbone.GFMBackbone`
=============  ============================================================
``edge``       ``(n, 2)`` edge features ``e_kj`` (the mask token where hidden)
``u``          ``relu(W_1 e_kj + b_1)``, the projector's hidden layer ``(n, b_h)``
``bias``       ``W_b u + c_b``: one attention bias per head, ``(H, n)`` (eq. 4)
=============  ============================================================

The same arithmetic as :meth:`GFMBackbone.edge_terms` (the inference form,
channels first), laid out for a backward pass: ``u`` is stored edge-major,
``(B K, K, b_h)`` contiguous, so the attention's edge-value product reads it
and returns its gradient without a transposing copy, and the backward pass
is written out (one fused ``addmm`` for the hidden layer's gradient, the mask
token's gradient as one reduction over the hidden edges instead of an
``(n, 2)`` input gradient). Tested against ``proj(edge)`` with autograd.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rrm.models.gfm.backbone import EdgeValues, GFMBackbone
from rrm.models.gfm.features import GraphBatch


class EdgeProjection(torch.autograd.Function):
    """``(bias (H, n), u (n, b_h))`` of one layer's projector; gradients written out."""

    @staticmethod
    def forward(ctx: Any, columns: Tensor, token: Tensor, w1: Tensor, b1: Tensor,
                w_bias: Tensor, b_bias: Tensor) -> tuple[Tensor, Tensor]:
        """``columns (n, 4)`` = ``[e_kj, 1, hidden_kj]`` (no gradient; ``e_kj`` is
        ``token (2,)`` where ``hidden_kj`` = 1); ``w1 (b_h, 2)``, ``w_bias (H, b_h)``
        -> ``bias (H, n)``, ``u (n, b_h)``."""
        u = torch.addmm(b1, columns[:, :2], w1.t()).relu_()  # (n, b_h)
        bias = torch.addmm(b_bias[:, None], w_bias, u.t())  # (H, n)
        ctx.save_for_backward(columns, u, w1, w_bias)
        return bias, u

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_bias: Tensor, g_u: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        """``d/d(token, W_1, b_1, W_b, c_b)`` from ``g_bias (H, n)`` and ``g_u (n, b_h)``."""
        columns, u, w1, w_bias = ctx.saved_tensors
        g_hidden = torch.mm(g_bias.t(), w_bias) if g_u is None \
            else torch.addmm(g_u, g_bias.t(), w_bias)  # (n, b_h)
        g_pre = torch.ops.aten.threshold_backward(g_hidden, u, 0.0)  # relu' in one pass
        g_w_bias, g_b_bias = torch.mm(g_bias, u), g_bias.sum(1)
        # [e | 1 | hidden]^T g_pre: (4, b_h); (n, 4)^T (n, b_h) is the fast operand order
        sums = torch.mm(columns.t(), g_pre)
        g_token = torch.mv(w1.t(), sums[3])  # sum of W_1^T g_pre over the hidden edges
        return None, g_token, sums[:2].t(), sums[2], g_w_bias, g_b_bias


def training_edge_terms(backbone: GFMBackbone, g: GraphBatch, masked: Tensor | None
                        ) -> Iterator[tuple[Tensor, EdgeValues | None]]:
    """Every layer's ``(bias (B, H, K, K), edge values)`` as
    :meth:`GFMBackbone.edge_terms` gives them for ``backbone.edge_input(g, masked)``,
    by :class:`EdgeProjection` (bias stored ``(H, B, K, K)``, ``u`` ``(B K, K, b_h)``
    contiguous)."""
    b, k = g.edge.shape[0], g.edge.shape[1]
    h, e, bh = backbone.cfg.heads, backbone.cfg.edge_value_dim, backbone.cfg.bias_hidden
    unseen = ~g.known if masked is None else (~g.known | masked)  # (B, K, K)
    token = backbone.mask_token
    edge = torch.where(unseen.unsqueeze(-1), token.detach().to(g.edge.dtype), g.edge)
    flags = unseen.unsqueeze(-1).to(edge.dtype)  # (B, K, K, 1)
    columns = torch.cat([edge, torch.ones_like(flags), flags], -1).view(-1, 4)  # (n, 4)
    for proj in backbone.bias_proj:
        first, second = proj[0], proj[2]  # type: ignore[index]
        bias, u = EdgeProjection.apply(columns, token, first.weight, first.bias,
                                       second.weight[:h], second.bias[:h])
        value = None
        if e:
            value = EdgeValues(u.view(b * k, k, bh), second.weight[h:].view(h, e, bh),
                               second.bias[h:].view(h, e))
        yield bias.view(h, b, k, k).transpose(0, 1), value
