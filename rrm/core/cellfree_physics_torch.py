"""Cell-free downlink physics in torch, differentiable (twin of :mod:`rrm.core.cellfree_physics`).

Same notation, equations (EGAT eqs. 1, 2, 3b, 3c) and shapes as the numpy
module: ``h, v [..., B, K, M]`` complex, ``x [..., B, K]`` in {0, 1} or
relaxed to [0, 1], ``noise_w`` scalar or ``[..., K]`` W. Rates are
differentiable in ``v`` and in a real-valued ``x``; powers are computed as
``re^2 + im^2`` so the gradient is defined where a stream is exactly zero
(``|z|`` is not differentiable at 0). The feasibility checks return bool
tensors and carry no gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

FEASIBILITY_RTOL = 1e-9  # as sim.cellfree_physics


def effective_gains(h: Tensor, v: Tensor, x: Tensor) -> Tensor:
    """``a [..., K, J]`` complex: ``a_kj = sum_b x_bj h_bk^H v_bj`` (eq. 1)."""
    xv = x.to(v.dtype).unsqueeze(-1) * v  # (..., B, J, M)
    return torch.einsum("...bkm,...bjm->...kj", h.conj(), xv)  # (..., K, J)


def stream_power(h: Tensor, v: Tensor, x: Tensor) -> Tensor:
    """Received power ``|a_kj|^2 [..., K, J]`` in W of UE j's stream at UE k."""
    a = effective_gains(h, v, x)
    return a.real**2 + a.imag**2


def sinr(h: Tensor, v: Tensor, x: Tensor, noise_w: Tensor | float) -> Tensor:
    """SINR per UE ``[..., K]`` (eq. 2)."""
    power = stream_power(h, v, x)  # (..., K, J)
    signal = torch.diagonal(power, dim1=-2, dim2=-1)  # (..., K)
    return signal / (power.sum(dim=-1) - signal + noise_w)


def rates(h: Tensor, v: Tensor, x: Tensor, noise_w: Tensor | float) -> Tensor:
    """Rate per UE ``[..., K]`` in bit/s/Hz: ``log2(1 + SINR_k)``."""
    return torch.log1p(sinr(h, v, x, noise_w)) / math.log(2.0)


def ap_power_w(v: Tensor) -> Tensor:
    """Transmit power per AP ``[..., B]`` in W: ``||V_b||_F^2`` (eq. 3c)."""
    return (v.real**2 + v.imag**2).sum(dim=(-2, -1))


def fronthaul_load_bps(x: Tensor, rate: Tensor, bandwidth_hz: float) -> Tensor:
    """Fronthaul load per AP ``[..., B]`` in bit/s: ``W sum_k x_bk r_k`` (eq. 3b)."""
    return bandwidth_hz * torch.einsum("...bk,...k->...b", x.to(rate.dtype), rate)


def power_feasible(v: Tensor, pmax_w: Tensor | float,
                   rtol: float = FEASIBILITY_RTOL) -> Tensor:
    """Per-AP power check ``[..., B]`` bool (eq. 3c)."""
    power = ap_power_w(v)
    return power <= torch.as_tensor(pmax_w, dtype=power.dtype, device=power.device) * (1.0 + rtol)


def fronthaul_feasible(x: Tensor, rate: Tensor, fronthaul_bps: Tensor | float,
                       bandwidth_hz: float, rtol: float = FEASIBILITY_RTOL) -> Tensor:
    """Per-AP fronthaul check ``[..., B]`` bool (eq. 3b)."""
    load = fronthaul_load_bps(x, rate, bandwidth_hz)
    cap = torch.as_tensor(fronthaul_bps, dtype=load.dtype, device=load.device)
    return load <= cap * (1.0 + rtol)


def feasible(h: Tensor, v: Tensor, x: Tensor, noise_w: Tensor | float,
             pmax_w: Tensor | float, fronthaul_bps: Tensor | float, bandwidth_hz: float,
             rtol: float = FEASIBILITY_RTOL) -> Tensor:
    """Per-sample feasibility ``[...]`` bool: every AP within power and fronthaul."""
    with torch.no_grad():
        rate = rates(h, v, x, noise_w)
        ok = power_feasible(v, pmax_w, rtol) & fronthaul_feasible(
            x, rate, fronthaul_bps, bandwidth_hz, rtol)
    return ok.all(dim=-1)
