"""Model inputs of the diffusion policy: GSO, node state, and the allocation signal scale.

Sec. 3.1: the GSO is the large-scale channel matrix as a weighted
interference graph (:func:`rrm.sim.scenarios.ergodic.interference_graph`: direct
link + 10 strongest interferers, ``log(1 + SNR G)`` weights, divided by the
spectral radius), and each node carries ``u_j = (h_jj, sum_{i != j} h_ij,
f_min)``: direct-link strength and aggregate interference at full power,
both as ``log(1 + Pmax G / noise) / LOG_SCALE`` (a fixed scale keeps the
features comparable across networks and sizes), and the QoS level.

Allocations are powers ``p in [0, Pmax]``; the diffusion model works on the
signal ``x = 2 p / Pmax - 1 in [-1, 1]`` (:func:`to_signal`, :func:`to_power`).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from rrm.sim.scenarios.ergodic import interference_graph

LOG_SCALE = 10.0  # nats: log(1 + SNR G) of a strong direct link is about 10-20


def node_state(large_scale: NDArray[np.float64], snr: float,
               f_min: ArrayLike) -> NDArray[np.float64]:
    """``u [..., N, 3]`` from ``large_scale [..., N, N]``, ``snr = Pmax / noise``, ``f_min``."""
    g = np.asarray(large_scale, dtype=np.float64)
    direct = np.diagonal(g, axis1=-2, axis2=-1)  # (..., N)
    interference = g.sum(axis=-1) - direct  # (..., N) rx k from all j != k
    fmin = np.broadcast_to(np.asarray(f_min, dtype=np.float64), direct.shape)
    return np.stack([np.log1p(snr * direct) / LOG_SCALE,
                     np.log1p(snr * interference) / LOG_SCALE, fmin], axis=-1)


def model_inputs(large_scale: NDArray[np.float64], snr: float,
                 f_min: ArrayLike) -> tuple[Tensor, Tensor]:
    """``(gso [B, N, N], u [B, N, 3])`` float32 tensors for ``large_scale [B, N, N]``."""
    g = np.asarray(large_scale, dtype=np.float64)
    gso = interference_graph(g, keep=10, snr=snr, normalization="spectral")
    return (torch.as_tensor(gso, dtype=torch.float32),
            torch.as_tensor(node_state(g, snr, f_min), dtype=torch.float32))


def to_signal(power_share: Tensor) -> Tensor:
    """``p / Pmax in [0, 1]`` -> ``x in [-1, 1]``."""
    return 2.0 * power_share - 1.0


def to_power(signal: Tensor) -> Tensor:
    """``x`` -> ``p / Pmax``, clipped to ``[0, 1]``."""
    return ((signal + 1.0) / 2.0).clamp(0.0, 1.0)
