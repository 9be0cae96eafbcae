"""The masked-edge loss of hybrid pre-training (sec. III-B) fused for the CPU.

Notation (one batch, flattened nodes):

=============  ============================================================
name           paper / :class:`~rrm.models.gfm.pretrain.EdgeDecoder`
=============  ============================================================
``z``          node embeddings ``(N, d)``, ``N = B K``
``rx, tx``     ``(M,)`` flat rows of the masked edges' receivers / transmitters
``w_first``    the decoder's first layer ``W = [W_1 | W_2 | W_3]`` ``(d, 3d)``, bias ``b``
``w_out``      its output layer ``(2, d)``, bias ``c``
``pred``       ``W_o relu(W_1 z_k + W_2 z_j + W_3 (z_k * z_j) + b) + c``, ``(M, 2)``
``L_edge``     ``mean((pred - e_kj)^2)`` over the ``2 M`` masked features
=============  ============================================================

The same function as :func:`~rrm.models.gfm.pretrain.masked_edge_loss`'s
autograd form, evaluated in chunks of masked edges so every ``(chunk, d)``
intermediate stays in cache (the unfused form writes ~20 ``(M, d)`` tensors,
31 MB each at K = 80, batch 64). The loss is a scalar, so its gradient with
respect to every input is computed in the same pass (no second walk over the
edges, nothing ``(M, d)``-sized saved) and scaled by the incoming gradient in
``backward``. Tested against the unfused form (loss and every gradient).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

CHUNK = 4096  # masked edges per pass: 1 MB per (chunk, d = 64) float32 tensor


class FusedMaskedEdgeLoss(torch.autograd.Function):
    """``L_edge`` and, when asked, its gradients in one chunked pass over the masked edges."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, w_first: Tensor, b_first: Tensor, w_out: Tensor,
                b_out: Tensor, target: Tensor, rx: Tensor, tx: Tensor, need_grad: bool
                ) -> Tensor:
        """``z (N, d)``, ``target (M, 2)``, ``rx, tx (M,)`` int64 -> ``L_edge`` (0-d)."""
        d, m = z.shape[1], rx.shape[0]
        w_own, w_other, w_pair = w_first[:, :d], w_first[:, d : 2 * d], w_first[:, 2 * d :]
        own = torch.addmm(b_first, z, w_own.t())  # (N, d): W_1 z_k + b per node
        other = torch.mm(z, w_other.t())  # (N, d): W_2 z_j per node
        grads = _Grads(z, w_out) if need_grad else None
        total = torch.zeros((), dtype=torch.float64)
        for lo in range(0, m, CHUNK):
            r, t = rx[lo : lo + CHUNK], tx[lo : lo + CHUNK]
            z_rx, z_tx = z.index_select(0, r), z.index_select(0, t)  # (C, d)
            pair = z_rx * z_tx
            pre = torch.addmm(own.index_select(0, r).add_(other.index_select(0, t)),
                              pair, w_pair.t())  # (C, d)
            hidden = torch.relu(pre)
            err = torch.addmm(b_out, hidden, w_out.t()).sub_(target[lo : lo + CHUNK])  # (C, 2)
            total += err.square().sum()
            if grads is not None:
                grads.chunk(err.mul_(1.0 / m), hidden, pair, z_rx, z_tx, r, t, w_pair)
        if grads is not None:
            ctx.save_for_backward(*grads.finish(w_own, w_other))
        return (total / (2 * m)).to(z.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        """The gradients of ``forward`` times the incoming scalar ``grad``."""
        return (*(g * grad for g in ctx.saved_tensors), None, None, None, None)


class _Grads:
    """Accumulators of ``d L_edge / d (z, W, b, W_o, c)`` over the chunks."""

    def __init__(self, z: Tensor, w_out: Tensor) -> None:
        self.z = z
        self.node = torch.zeros_like(z)  # (N, d): through z_k * z_j
        self.own = torch.zeros_like(z)  # (N, d): d L / d (W_1 z_k + b) summed per receiver
        self.other = torch.zeros_like(z)  # (N, d): d L / d (W_2 z_j) summed per transmitter
        d = z.shape[1]
        self.w_pair = z.new_zeros(d, d)
        self.w_out, self.b_out = torch.zeros_like(w_out), w_out.new_zeros(w_out.shape[0])
        self.out_weight = w_out

    def chunk(self, g_pred: Tensor, hidden: Tensor, pair: Tensor, z_rx: Tensor, z_tx: Tensor,
              rx: Tensor, tx: Tensor, w_pair: Tensor) -> None:
        """Back through one chunk: ``g_pred (C, 2) = d L / d pred``."""
        self.w_out.addmm_(g_pred.t(), hidden)  # (2, d)
        self.b_out += g_pred.sum(0)
        g_pre = torch.mm(g_pred, self.out_weight).mul_(hidden > 0)  # (C, d)
        self.w_pair.addmm_(g_pre.t(), pair)  # (d, d)
        self.own.index_add_(0, rx, g_pre)
        self.other.index_add_(0, tx, g_pre)
        g_pair = torch.mm(g_pre, w_pair)  # (C, d)
        self.node.index_add_(0, rx, g_pair * z_tx)
        self.node.index_add_(0, tx, g_pair.mul_(z_rx))

    def finish(self, w_own: Tensor, w_other: Tensor) -> tuple[Tensor, ...]:
        """``(d/dz, d/dW, d/db, d/dW_o, d/dc)`` from the per-node sums."""
        g_z = torch.addmm(torch.addmm(self.node, self.own, w_own), self.other, w_other)
        g_w = torch.cat([self.own.t() @ self.z, self.other.t() @ self.z, self.w_pair], 1)
        return g_z, g_w, self.own.sum(0), self.w_out, self.b_out


def fused_masked_edge_loss(z: Tensor, w_first: Tensor, b_first: Tensor, w_out: Tensor,
                           b_out: Tensor, target: Tensor, rx: Tensor, tx: Tensor) -> Tensor:
    """``L_edge`` (0-d) by :class:`FusedMaskedEdgeLoss`; shapes in its ``forward``."""
    need_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (z, w_first, b_first, w_out, b_out))
    loss: Tensor = FusedMaskedEdgeLoss.apply(z, w_first, b_first, w_out, b_out, target, rx,
                                             tx, need_grad)
    return loss
