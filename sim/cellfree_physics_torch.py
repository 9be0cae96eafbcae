"""Cell-free downlink physics in torch, differentiable (twin of :mod:`sim.cellfree_physics`).

Shapes and equations as there: ``h, v [..., B, K, M]`` complex, ``x [..., B, K]``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def effective_gains(h: Tensor, v: Tensor, x: Tensor) -> Tensor:
    """``a[..., k, j] = sum_b x_bj h_bk^H v_bj``."""
    return torch.einsum("...bkm,...bjm->...kj", h.conj(), x.to(v.dtype).unsqueeze(-1) * v)


def sinr(h: Tensor, v: Tensor, x: Tensor, noise_w: Tensor | float) -> Tensor:
    """SINR per UE ``[..., K]``."""
    power = effective_gains(h, v, x).abs() ** 2
    signal = torch.diagonal(power, dim1=-2, dim2=-1)
    return signal / (power.sum(-1) - signal + noise_w)


def rates(h: Tensor, v: Tensor, x: Tensor, noise_w: Tensor | float) -> Tensor:
    """Rate per UE ``[..., K]`` in bit/s/Hz; differentiable in ``v`` (and a relaxed ``x``)."""
    return torch.log2(1.0 + sinr(h, v, x, noise_w))


def ap_power_w(v: Tensor) -> Tensor:
    """Transmit power per AP ``[..., B]``, W."""
    return (v.abs() ** 2).sum(dim=(-2, -1))


def fronthaul_load_bps(x: Tensor, rate: Tensor, bandwidth_hz: float) -> Tensor:
    """Fronthaul load per AP ``[..., B]``, bit/s."""
    return bandwidth_hz * torch.einsum("...bk,...k->...b", x.to(rate.dtype), rate)
