"""Interference-network physics in torch, differentiable (twin of :mod:`rrm.core.physics`).

    SINR_k = G_kk p_k / (sum_{j != k} G_kj p_j + sigma2),  rate_k = log2(1 + SINR_k)

Shapes and units as in :mod:`rrm.core.physics`: ``gains [..., K, K]`` linear power
gain receiver k from transmitter j, ``power_w [..., K]`` watts, ``noise_w``
scalar or ``[..., K]`` watts.
"""

from __future__ import annotations

import torch
from torch import Tensor


def direct_gains(gains: Tensor) -> Tensor:
    """Diagonal of ``gains``: ``[..., K, K] -> [..., K]``."""
    return torch.diagonal(gains, dim1=-2, dim2=-1)


def interference_w(gains: Tensor, power_w: Tensor) -> Tensor:
    """Received interference per receiver in watts, ``[..., K]``."""
    total = torch.einsum("...kj,...j->...k", gains, power_w)  # (..., K)
    return total - direct_gains(gains) * power_w


def sinr(gains: Tensor, power_w: Tensor, noise_w: Tensor | float) -> Tensor:
    """SINR per link, ``[..., K]`` (linear)."""
    return direct_gains(gains) * power_w / (interference_w(gains, power_w) + noise_w)


def rates(gains: Tensor, power_w: Tensor, noise_w: Tensor | float) -> Tensor:
    """Shannon rate per link, ``[..., K]`` bit/s/Hz; differentiable in ``power_w``."""
    return torch.log2(1.0 + sinr(gains, power_w, noise_w))
