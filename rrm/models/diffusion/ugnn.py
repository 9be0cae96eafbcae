"""U-GNN denoiser ``eps_theta(x_k, k | S, u)`` of graph-signal diffusion (seed 004, sec. 3.1).

A U-shaped cascade of graph-convolution blocks (Gama et al. 2018 filters)
with learned node pooling (score-based top-k, Gao and Ji 2019) for the
coarser levels, the matching unpooling (scatter back to the kept nodes) and
skip connections. Every block is conditioned on the diffusion-step embedding
and on the node state ``u = (direct gain, interference at full power, f_min)``.

Graph filter with ``H`` hops on GSO ``S [B, N, N]`` (Gama et al., eq. 6)::

    Y = sum_{h=0..H} S^h X W_h + b,          X [B, N, C_in], W_h [C_in, C_out]

Pooling at level b keeps ``ceil(ratio N_b)`` nodes ranked by the score
``tanh(X p / ||p||)`` and gates them by it; the coarse GSO is
``D_b S^2 D_b^T`` (the poster's reduced GSO with stride 2: two-hop
neighbours stay connected). Ranking by score, not by index, keeps the
network permutation equivariant (up to exact ties of the score).

Sizes (sec. 3.1): depth 3, 64-channel blocks of 2 layers with 2-hop filters,
128-channel step and node-state embeddings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rrm.core.errors import ConfigError


@dataclass(frozen=True)
class UGNNConfig:
    """U-GNN sizes (defaults: sec. 3.1)."""

    channels: int = 64  # sec. 3.1: 64-channel GNN blocks
    embed_dim: int = 128  # sec. 3.1: 128-channel step / node-state embeddings
    depth: int = 3  # sec. 3.1: total depth 3 (levels N, N/2, N/4)
    layers_per_block: int = 2  # sec. 3.1: 2-layered blocks
    hops: int = 2  # sec. 3.1: 2-hop aggregation
    pool_ratio: float = 0.5  # nodes kept per coarsening (Graph U-Nets default)
    node_features: int = 3  # u = (direct gain, interference, f_min), sec. 3.1

    def __post_init__(self) -> None:
        if min(self.channels, self.embed_dim, self.depth, self.layers_per_block) < 1 \
                or self.hops < 0 or not 0 < self.pool_ratio <= 1:
            raise ConfigError("UGNN sizes must be positive, hops >= 0, 0 < pool_ratio <= 1")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready config."""
        return asdict(self)


class GraphFilter(nn.Module):
    """``Y = sum_h S^h X W_h + b`` (one graph-convolution layer, ``hops + 1`` taps)."""

    def __init__(self, c_in: int, c_out: int, hops: int) -> None:
        super().__init__()
        self.hops = hops
        self.taps = nn.Linear((hops + 1) * c_in, c_out)

    def reset_parameters(self) -> None:
        """Re-initialise the taps."""
        self.taps.reset_parameters()

    def forward(self, x: Tensor, gso: Tensor) -> Tensor:
        """``x [B, N, C_in]``, ``gso [B, N, N]`` -> ``[B, N, C_out]``."""
        shifted = [x]
        for _ in range(self.hops):
            shifted.append(torch.bmm(gso, shifted[-1]))  # (B, N, C_in)
        return self.taps(torch.cat(shifted, dim=-1))


class GraphBlock(nn.Module):
    """``layers`` graph filters with SiLU, conditioned by adding a projection of ``emb``."""

    def __init__(self, c_in: int, c_out: int, cfg: UGNNConfig) -> None:
        super().__init__()
        dims = [c_in] + [c_out] * cfg.layers_per_block
        pairs = zip(dims, dims[1:], strict=False)
        self.filters = nn.ModuleList(GraphFilter(a, b, cfg.hops) for a, b in pairs)
        self.condition = nn.Linear(cfg.embed_dim, c_out)
        self.residual = nn.Linear(c_in, c_out) if c_in != c_out else nn.Identity()
        self.norm = nn.LayerNorm(c_out)

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        for f in self.filters:
            f.reset_parameters()  # type: ignore[operator]
        self.condition.reset_parameters()
        self.norm.reset_parameters()
        if isinstance(self.residual, nn.Linear):
            self.residual.reset_parameters()

    def forward(self, x: Tensor, gso: Tensor, emb: Tensor) -> Tensor:
        """``x [B, N, C_in]``, ``gso [B, N, N]``, ``emb [B, N, E]`` -> ``[B, N, C_out]``."""
        h = x
        for i, f in enumerate(self.filters):
            h = f(h, gso)
            if i == 0:
                h = h + self.condition(emb)
            h = nn.functional.silu(h)
        return self.norm(h + self.residual(x))


class TopKPool(nn.Module):
    """Score-based node selection (gPool): keep ``ceil(ratio N)`` nodes, gate by score."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        self.ratio = ratio
        self.projection = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random unit-scale projection."""
        nn.init.normal_(self.projection, std=1.0 / math.sqrt(self.projection.numel()))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, N, C]`` -> (kept node indices ``[B, M]``, gated kept signal ``[B, M, C]``)."""
        score = torch.tanh(x @ self.projection / self.projection.norm())  # (B, N)
        m = max(1, math.ceil(self.ratio * x.shape[1]))
        top, idx = torch.topk(score, m, dim=1)  # sorted by score: order is label-free
        kept = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))  # (B, M, C)
        return idx, kept * top[..., None]


def coarsen_gso(gso: Tensor, idx: Tensor) -> Tensor:
    """``D S^2 D^T``: rows and columns ``idx [B, M]`` of ``S^2`` -> ``[B, M, M]``."""
    s2 = torch.bmm(gso, gso)  # (B, N, N)
    rows = torch.gather(s2, 1, idx[..., None].expand(-1, -1, s2.shape[-1]))  # (B, M, N)
    return torch.gather(rows, 2, idx[:, None, :].expand(-1, idx.shape[1], -1))  # (B, M, M)


def gather_nodes(x: Tensor, idx: Tensor) -> Tensor:
    """``x [B, N, C]`` at nodes ``idx [B, M]`` -> ``[B, M, C]``."""
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))


def unpool(x: Tensor, idx: Tensor, num_nodes: int) -> Tensor:
    """Scatter ``x [B, M, C]`` back to nodes ``idx`` of a zero ``[B, N, C]`` signal."""
    out = x.new_zeros(x.shape[0], num_nodes, x.shape[-1])
    return out.scatter(1, idx[..., None].expand(-1, -1, x.shape[-1]), x)


def step_embedding(k: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of integer steps ``k [B]`` -> ``[B, dim]`` (Vaswani et al.)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = k.float()[:, None] * freqs[None, :].to(k.device)  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class UGNN(nn.Module):
    """The U-GNN denoiser ``eps_theta(x_k, k | S, u)``."""

    def __init__(self, cfg: UGNNConfig = UGNNConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c, e = cfg.channels, cfg.embed_dim
        self.step_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.node_mlp = nn.Sequential(nn.Linear(cfg.node_features, e), nn.SiLU(), nn.Linear(e, e))
        self.lift = nn.Linear(1 + cfg.node_features, c)
        self.down = nn.ModuleList(GraphBlock(c, c, cfg) for _ in range(cfg.depth - 1))
        self.pools = nn.ModuleList(TopKPool(c, cfg.pool_ratio) for _ in range(cfg.depth - 1))
        self.bottom = GraphBlock(c, c, cfg)
        self.up = nn.ModuleList(GraphBlock(2 * c, c, cfg) for _ in range(cfg.depth - 1))
        self.readout = nn.Linear(c, 1)

    def reset_parameters(self) -> None:
        """Re-initialise every submodule that has parameters."""
        for m in self.modules():
            reset = getattr(m, "reset_parameters", None)
            if m is not self and callable(reset):
                reset()

    def forward(self, xk: Tensor, k: Tensor, gso: Tensor, u: Tensor) -> Tensor:
        """Predicted noise ``[B, N]``.

        Args:
            xk: ``[B, N]`` noisy allocation signal (scaled to [-1, 1] when clean).
            k: ``[B]`` int diffusion step.
            gso: ``[B, N, N]`` normalised interference graph (:func:`node_inputs`).
            u: ``[B, N, 3]`` node state.
        """
        emb = self.step_mlp(step_embedding(k, self.cfg.embed_dim))[:, None, :] \
            + self.node_mlp(u)  # (B, N, E)
        h = self.lift(torch.cat([xk[..., None], u], dim=-1))  # (B, N, C)
        skips: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        for block, pool in zip(self.down, self.pools, strict=True):
            h = block(h, gso, emb)
            idx, coarse = pool(h)
            skips.append((h, idx, gso, emb))
            h, gso, emb = coarse, coarsen_gso(gso, idx), gather_nodes(emb, idx)
        h = self.bottom(h, gso, emb)
        for block, (skip, idx, fine_gso, fine_emb) in zip(self.up, reversed(skips), strict=True):
            h = unpool(h, idx, skip.shape[1])
            h = block(torch.cat([h, skip], dim=-1), fine_gso, fine_emb)
        return self.readout(h)[..., 0]
