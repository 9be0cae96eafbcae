"""Graph features of an interference network for GFM-RA (sec. III-A).

Gains are turned into dimensionless, SNR-like quantities in dB so that one
model serves any noise level and budget:

* node feature ``s_k = 10 log10(G_kk Pmax_k / sigma^2) / 20``: the direct
  link's SNR at full power (the "direct-link state" of the node encoder);
* edge feature ``e_kj = [i_kj, i_jk]`` with ``i_kj = 10 log10(G_kj Pmax_j /
  sigma^2) / 20``: the interference-to-noise ratio of the edge in both
  directions (``[h_kj, h_jk]`` of the paper, normalised).

dB values are clamped to [-40, 100] dB before scaling, so empty links do not
produce -inf. Missing CSI (``csi_mask`` False) is flagged for the model,
which replaces those edges with its learnable mask token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DB_MIN, DB_MAX, DB_SCALE = -40.0, 100.0, 20.0


@dataclass
class GraphBatch:
    """A batch of same-size interference graphs in dense form.

    Attributes:
        node: ``(B, K, 1)`` node features.
        edge: ``(B, K, K, 2)`` edge features, entry [k, j] about transmitter j -> receiver k.
        known: ``(B, K, K)`` bool, edge CSI available (diagonal True).
        gains: ``(B, K, K)`` linear gains (for the utility), float64.
        noise_w / pmax_w: ``(B, K)`` watts.
    """

    node: Tensor
    edge: Tensor
    known: Tensor
    gains: Tensor
    noise_w: Tensor
    pmax_w: Tensor


def per_link(x: Tensor | float, b: int, k: int, device: torch.device | None = None) -> Tensor:
    """Scalar, ``[K]`` or ``[B, K]`` -> ``(B, K)`` float64 (on ``device``)."""
    t = torch.as_tensor(x, dtype=torch.float64, device=device)
    return t.expand(b, k) if t.dim() < 2 else t


def _db(x: Tensor) -> Tensor:
    """``clamp(10 log10 x, DB_MIN, DB_MAX) / DB_SCALE`` as one scale and one clamp (the
    scale 10 / 20 = 0.5 is exact, so this differs from scaling twice by at most an ulp)."""
    scale = 10.0 / DB_SCALE
    return (torch.log10(x.clamp_min(1e-30)) * scale).clamp(DB_MIN / DB_SCALE, DB_MAX / DB_SCALE)


def graph_batch(gains: Tensor, noise_w: Tensor | float, pmax_w: Tensor | float,
                csi_mask: Tensor | None = None) -> GraphBatch:
    """Features of ``gains (B, K, K)`` (linear, rx k from tx j) with budgets in watts.

    Built on ``gains``' device (a CUDA batch never comes back to the host).
    """
    g = gains.to(torch.float64)
    b, k, _ = g.shape
    noise, pmax = per_link(noise_w, b, k, g.device), per_link(pmax_w, b, k, g.device)
    inr = g * pmax[:, None, :] / noise[:, :, None]  # (B, K, K): G_kj Pmax_j / sigma_k^2
    return graph_batch_of_inr(inr, g, noise, pmax, csi_mask)


def graph_batch_of_inr(inr: Tensor, gains: Tensor, noise_w: Tensor, pmax_w: Tensor,
                       csi_mask: Tensor | None = None) -> GraphBatch:
    """:func:`graph_batch` from the INRs at full power it computes first.

    Args:
        inr: ``(B, K, K)`` float64, ``G_kj Pmax_j / sigma_k^2`` (as ``graph_batch`` forms
            it: ``(G_kj Pmax_j) / sigma_k^2``), so a caller that needs them too (the shift
            descriptors, :func:`rrm.models.gfm.shift.descriptors_of`) computes them once.
        gains: ``(B, K, K)`` float64 linear gains; noise_w / pmax_w: ``(B, K)`` float64 W.
        csi_mask: ``(B, K, K)`` bool or None (full CSI).
    """
    b, k, _ = inr.shape
    # dB in float32: clamped to [-40, 100] dB and / 20, float32 keeps ~1e-6 dB (the
    # model runs in float32 anyway); out-of-range ratios become 0 / inf and clamp alike
    inr_db = _db(inr.to(torch.float32))  # (B, K, K)
    node = torch.diagonal(inr_db, dim1=-2, dim2=-1).unsqueeze(-1)  # (B, K, 1)
    edge = torch.stack([inr_db, inr_db.transpose(-1, -2)], dim=-1)  # (B, K, K, 2)
    if csi_mask is None:  # full CSI: every edge known (what the masked formula gives)
        known = torch.ones(b, k, k, dtype=torch.bool, device=inr.device)
        return GraphBatch(node, edge, known, gains, noise_w, pmax_w)
    eye = torch.eye(k, dtype=torch.bool, device=inr.device).expand(b, k, k)
    known = eye | csi_mask.to(torch.bool)
    known = known & known.transpose(-1, -2)  # an edge feature needs both directions
    return GraphBatch(node, edge, known | eye, gains, noise_w, pmax_w)
