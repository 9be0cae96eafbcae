"""The EGAT model (EGAT sec. IV-B to IV-D): features, update layers, post-processing.

Input, one batch of ``n`` instances of the same size:

* edges ``[n, B, K, 2M+1]``: the channel normalised by the UE's noise,
  ``g_bk = h_bk / xi_k``, as ``[Re g / |g|, Im g / |g|, log10(|g|^2) / 5]``.
  The paper feeds ``[Re h, Im h]``; raw channels span eight orders of
  magnitude, so we split direction and (log) strength;
* APs ``[n, B, 2]``: ``[P_b^max / 1 W, C_b^max / W / 10 bit/s/Hz]`` (sec. IV-B);
* UEs ``[n, K, 2]``: ``[xi_k / xi_k, w_k]`` (noise-normalised, so the first is 1).

Pre-processing MLPs (one hidden layer) lift them to width ``d``; ``layers``
:class:`EgatLayer` update them; ``MLP_v`` (one linear layer) gives
``[Re v_bk, Im v_bk]`` and ``MLP_x`` (linear + sigmoid) the association
probability ``pi_bk`` (eq. 27). :func:`postprocess` masks the beamformers by
an association and normalises each AP to its budget (eqs. 35-37).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rrm.models.cellfree.egat_layers import EgatLayer

LOG_GAIN_SCALE = 5.0  # log10 |g|^2 spans about -2..8 at the defaults
CAP_SCALE = 10.0  # bit/s/Hz


@dataclass(frozen=True)
class EgatConfig:
    """Model sizes (the paper does not give widths; ours, small enough for a CPU)."""

    width: int = 32  # d
    heads: int = 4  # C, multi-head attention
    layers: int = 3  # L update layers
    antennas: int = 2  # M, Table I
    attention: bool = True  # False: ENGNN-style mean aggregation (ablation)
    power_control: bool = False  # True: per-AP power share head (deviation from eq. 37)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def features(h: Tensor, noise_w: Tensor, pmax_w: Tensor, cap: Tensor, weights: Tensor
             ) -> tuple[Tensor, Tensor, Tensor]:
    """``(ap [n,B,2], ue [n,K,2], edge [n,B,K,2M+1])`` float32.

    Args:
        h: ``[n, B, K, M]`` complex; noise_w, weights: ``[n, K]``; pmax_w, cap: ``[n, B]``
            (cap in bit/s/Hz).
    """
    g = h / torch.sqrt(noise_w)[:, None, :, None]
    strength = (g.real**2 + g.imag**2).sum(-1, keepdim=True).clamp_min(1e-30)  # (n,B,K,1)
    unit = g / torch.sqrt(strength)
    edge = torch.cat([unit.real, unit.imag, torch.log10(strength) / LOG_GAIN_SCALE], -1)
    ap = torch.stack([pmax_w, cap / CAP_SCALE], -1)
    ue = torch.stack([torch.ones_like(weights), weights], -1)
    return ap.float(), ue.float(), edge.float()


def postprocess(v_raw: Tensor, x: Tensor, pmax_w: Tensor, share: Tensor | None = None) -> Tensor:
    """Eqs. (36)-(37): ``v = v_raw x``, then ``V_b <- V_b sqrt(s_b P_b) / ||V_b||_F``.

    Args:
        v_raw: ``[..., B, K, M]`` complex; x: ``[..., B, K]`` in {0, 1} (float);
        pmax_w: ``[..., B]`` W. An AP that serves nobody stays at zero power.
        share: ``[..., B]`` power share ``s_b`` in (0, 1]; None: 1 (eq. 37 exactly).
    """
    v = v_raw * x.to(v_raw.real.dtype)[..., None]
    power = (v.real**2 + v.imag**2).sum((-2, -1))  # (..., B)
    target = pmax_w if share is None else pmax_w * share
    scale = torch.where(power > 0, torch.sqrt(target / power.clamp_min(1e-30)),
                        torch.zeros_like(power))
    return v * scale[..., None, None]


class Egat(nn.Module):
    """Edge-graph attention network: ``(v_raw [n,B,K,M] complex, pi [n,B,K], share [n,B])``.

    ``share`` is 1 (eq. 37) unless ``power_control``: then a linear head on
    the final AP features gives ``s_b = sigmoid(.)``, so an AP may transmit
    below its budget (3c is an inequality) and so keep a strong UE's rate,
    and its fronthaul load, down; with full power an AP serving one strong UE
    alone exceeds a 40 Mbit/s fronthaul whatever the beam.
    """

    def __init__(self, cfg: EgatConfig = EgatConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        d, m = cfg.width, cfg.antennas
        self.pre_ap, self.pre_ue = _pre(2, d), _pre(2, d)
        self.pre_e = _pre(2 * m + 1, d)
        self.layers = nn.ModuleList(EgatLayer(d, cfg.heads, cfg.attention)
                                    for _ in range(cfg.layers))
        self.mlp_v = nn.Linear(d, 2 * m)  # eq. (27), a single linear layer
        self.mlp_x = nn.Linear(d, 1)  # eq. (27), linear + sigmoid
        self.mlp_p = nn.Linear(d, 1) if cfg.power_control else None

    def forward(self, ap: Tensor, ue: Tensor, edge: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Features from :func:`features` -> ``(v_raw, pi, share)``."""
        fa, fu, e = self.pre_ap(ap), self.pre_ue(ue), self.pre_e(edge)
        for layer in self.layers:
            fa, fu, e = layer(fa, fu, e)
        out = self.mlp_v(e)  # (n, B, K, 2M)
        m = self.cfg.antennas
        v_raw = torch.complex(out[..., :m], out[..., m:]) / math.sqrt(m)  # eq. (35)
        pi = torch.sigmoid(self.mlp_x(e)[..., 0])
        if self.mlp_p is None:
            return v_raw, pi, torch.ones_like(fa[..., 0])
        return v_raw, pi, torch.sigmoid(self.mlp_p(fa)[..., 0] + 2.0)  # starts near 0.9


def _pre(d_in: int, d: int) -> nn.Sequential:
    """Pre-processing MLP with one hidden layer (sec. IV-B)."""
    return nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.Linear(d, d))


def bernoulli_log_prob(x: Tensor, pi: Tensor, eps: float = 1e-6) -> Tensor:
    """``log P(X | Pi)`` of eq. (31), summed over ``(B, K)``: ``[...]``."""
    p = pi.clamp(eps, 1.0 - eps)
    return (x * torch.log(p) + (1.0 - x) * torch.log1p(-p)).sum((-2, -1))
