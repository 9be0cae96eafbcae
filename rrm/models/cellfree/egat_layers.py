"""EGAT update layer (EGAT sec. IV-C): node attention (eqs. 17-22) and edge attention (23-26).

Dense batched form of the complete bipartite AP/UE graph: AP features
``fa [n, B, d]``, UE features ``fu [n, K, d]``, edge features ``e [n, B, K, d]``.
Every head ``c`` has its own projections ``W_AP, W_UE, W_e: d -> d/C`` and
attention vectors; a score ``a^T [x || y || z]`` is computed as the sum of
the three projections' scores, then ``LeakyReLU(slope 0.001)`` and a softmax
over the neighbours:

* AP b (eq. 17-19): neighbours k, message ``[W_e e_bk || W_UE f_k]``;
* UE k (eq. 20-22): neighbours b, message ``[W_e e_bk || W_AP f_b]``;
* edge (b, k) (eq. 23-26): edges (b, m), m != k with message
  ``[W_e e_bm || W_AP f_b]`` plus edges (p, k), p != b with message
  ``[W_e e_pk || W_UE f_k]``, one shared ``a_e``.

The heads are concatenated, mapped back to ``d`` by an MLP and added to
the input (residual). Everything is a sum or softmax over all neighbours,
so the layer is equivariant to permutations of the APs and of the UEs.
With ``attention=False`` the softmax is replaced by the plain mean: the
ENGNN-style ablation (edge updates without attention, ref. [33]).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LEAKY_SLOPE = 0.001  # sigma(x) = max(0.001 x, x), sec. IV-C


def mlp(d_in: int, d: int, d_out: int) -> nn.Sequential:
    """Three linear layers with ReLU and a normalisation between (sec. V-A).

    LayerNorm stands in for the paper's batch normalisation: it does not
    depend on the batch, so one snapshot in the xApp behaves like training.
    """
    return nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.LayerNorm(d),
                         nn.Linear(d, d), nn.ReLU(), nn.LayerNorm(d), nn.Linear(d, d_out))


def _weights(score: Tensor, mask: Tensor | None, dim: int, attention: bool) -> Tensor:
    """Softmax (or mean) over ``dim``; ``mask`` (broadcastable, True = neighbour)."""
    if not attention:
        score = torch.zeros_like(score)
    score = nn.functional.leaky_relu(score, LEAKY_SLOPE)
    if mask is not None:
        score = score.masked_fill(~mask, float("-inf"))
    w = torch.softmax(score, dim=dim)
    return torch.nan_to_num(w, nan=0.0)  # no neighbour at all: zero message


class EgatLayer(nn.Module):
    """One update layer: new ``(fa, fu, e)`` from ``(fa, fu, e)``, all width ``d``."""

    def __init__(self, d: int, heads: int, attention: bool = True) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"width {d} not divisible by {heads} heads")
        self.heads, self.dh, self.attention = heads, d // heads, attention
        self.w_ap, self.w_ue, self.w_e = (nn.Linear(d, d, bias=False) for _ in range(3))
        # attention vectors, split into the parts that meet each projection: [C, dh] each
        self.a_ap = nn.Parameter(0.1 * torch.randn(3, heads, self.dh))
        self.a_ue = nn.Parameter(0.1 * torch.randn(3, heads, self.dh))
        self.a_e = nn.Parameter(0.1 * torch.randn(3, heads, self.dh))
        self.mlp_ap, self.mlp_ue, self.mlp_e = (mlp(2 * d, d, d) for _ in range(3))

    def _split(self, x: Tensor) -> Tensor:
        return x.reshape(*x.shape[:-1], self.heads, self.dh)

    def forward(self, fa: Tensor, fu: Tensor, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``fa [n,B,d], fu [n,K,d], e [n,B,K,d]`` -> same shapes."""
        pa, pu = self._split(self.w_ap(fa)), self._split(self.w_ue(fu))
        pe = self._split(self.w_e(e))
        n, b, k = e.shape[:3]

        def dot(x: Tensor, a: Tensor) -> Tensor:  # [..., C, dh] . [C, dh] -> [..., C]
            return (x * a).sum(-1)

        # eq. (17)-(18): AP b attends over UEs k
        s = (dot(pa, self.a_ap[0])[:, :, None] + dot(pe, self.a_ap[1])
             + dot(pu, self.a_ap[2])[:, None])
        al = _weights(s, None, 2, self.attention)  # (n, B, K, C)
        msg_ap = torch.cat([torch.einsum("nbkc,nbkcd->nbcd", al, pe),
                            torch.einsum("nbkc,nkcd->nbcd", al, pu)], -1)
        # eq. (20)-(21): UE k attends over APs b
        s = (dot(pu, self.a_ue[0])[:, None] + dot(pe, self.a_ue[1])
             + dot(pa, self.a_ue[2])[:, :, None])
        al = _weights(s, None, 1, self.attention)  # (n, B, K, C)
        msg_ue = torch.cat([torch.einsum("nbkc,nbkcd->nkcd", al, pe),
                            torch.einsum("nbkc,nbcd->nkcd", al, pa)], -1)
        msg_e = self._edge_messages(pa, pu, pe, n, b, k)
        fa2 = self.mlp_ap(msg_ap.flatten(-2)) + fa  # eq. (19)
        fu2 = self.mlp_ue(msg_ue.flatten(-2)) + fu  # eq. (22)
        e2 = self.mlp_e(msg_e.flatten(-2)) + e  # eq. (26)
        return fa2, fu2, e2

    def _edge_messages(self, pa: Tensor, pu: Tensor, pe: Tensor, n: int, b: int, k: int
                       ) -> Tensor:
        """Eq. (23)-(25): ``[n, B, K, C, 2 dh]`` aggregated edge messages."""
        nb_e, mid_a, mid_u, self_e = (
            (pe * self.a_e[0]).sum(-1), (pa * self.a_e[1]).sum(-1), (pu * self.a_e[1]).sum(-1),
            (pe * self.a_e[2]).sum(-1))  # (n,B,K,C), (n,B,C), (n,K,C), (n,B,K,C)
        eye_k = ~torch.eye(k, dtype=torch.bool, device=pe.device)  # (K target, K neighbour)
        eye_b = ~torch.eye(b, dtype=torch.bool, device=pe.device)
        # same AP: score[n, b, k(target), m(neighbour), c]
        s = self_e[:, :, :, None] + nb_e[:, :, None] + mid_a[:, :, None, None]
        beta = _weights(s, eye_k[None, None, :, :, None], 3, self.attention)
        agg_a = torch.einsum("nbkmc,nbmcd->nbkcd", beta, pe)
        has_a = beta.sum(3)[..., None]  # 1 where the AP has other UEs, else 0
        # same UE: score[n, b(target), p(neighbour), k, c]
        s = self_e[:, :, None] + nb_e[:, None] + mid_u[:, None, None]
        beta = _weights(s, eye_b[None, :, :, None, None], 2, self.attention)
        agg_u = torch.einsum("nbpkc,npkcd->nbkcd", beta, pe)
        has_u = beta.sum(2)[..., None]
        ap_part = torch.cat([agg_a, has_a * pa[:, :, None]], -1)
        ue_part = torch.cat([agg_u, has_u * pu[:, None]], -1)
        return ap_part + ue_part
