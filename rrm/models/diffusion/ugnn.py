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

Sparse GSO: the GSO keeps ``keep + 1 = 11`` entries per row, so the B graphs
of a batch are one block-diagonal sparse CSR matrix ``[B N, B N]``
(:func:`sparse_gso`, ``torch_geometric.utils``); each shift ``S x`` is a
:class:`GraphShift` (``MessagePassing``, sum aggregation fused into one
``spmm``) and the coarse GSO is the product of the kept rows and columns, so
a forward pass costs what the edges cost, not ``N^2`` (``N^3`` for the dense
``S^2``). Forward pass of the shipped ``diffusion-small``, batch 32 (one
refill of the diffusion policy), median of 20 calls, torch on one thread,
shared 2-core CPU (``bench/bench_graph_ops.py``, bench/results/graph_ops.md):

======  ================  ===================  =====================
N       dense (b0ead89)   now, dense GSO in    now, GSO given sparse
======  ================  ===================  =====================
20      30 ms             42 ms (*)            33 ms
400     913 ms            875 ms               776 ms
1,000   5,953 ms          2,163 ms             2,083 ms
======  ================  ===================  =====================

(*) N = 20 runs the same dense ops before and after (fill 11/20 > DENSE_FILL):
the gap is the shared machine's load (load average 5-7 during the run).
Converting the dense GSO costs 83 ms (N = 400) and 283 ms (N = 1,000) of
each call: a caller running many steps on one graph converts once
(:func:`fitted_gso`). The rest is the per-node MLP work, linear in N.
Outputs equal the dense implementation within 7.2e-7.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import dense_to_sparse, spmm, to_dense_adj, to_torch_csr_tensor

from rrm.core.errors import ConfigError

# A GSO whose non-zeros fill more than this share of its B N^2 entries runs dense:
# sparse products cost more per entry (bench/results/graph_ops.md). N = 20 graphs
# (11 of 20 per row) and the coarse levels (S^2 of S^2) are that full.
DENSE_FILL = 0.1


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


def sparse_gso(gso: Tensor) -> Tensor:
    """Dense ``gso [B, N, N]`` -> block-diagonal sparse CSR ``[B N, B N]`` (graphs side by side).

    Entry ``[b N + k, b N + j]`` is ``S_b[k, j]``; only the non-zeros are kept
    (``torch_geometric.utils.dense_to_sparse``). Converting costs one pass
    over the ``B N^2`` entries: a sampler calling the denoiser many times on
    one graph converts once and passes the result.
    """
    b, n, _ = gso.shape
    edge_index, weight = dense_to_sparse(gso.contiguous())  # (2, E) rows k, cols j; (E,)
    return _csr(edge_index, weight, b * n)


def fitted_gso(gso: Tensor, b: int) -> Tensor:
    """The GSO of ``b`` graphs in its faster layout (:data:`DENSE_FILL`).

    Sparse block-diagonal ``[B N, B N]`` when the non-zeros are few, dense
    ``[B, N, N]`` otherwise; either layout in, either out.
    """
    if gso.layout == torch.strided:
        fill = float(torch.count_nonzero(gso)) / gso.numel()
        return sparse_gso(gso) if fill < DENSE_FILL else gso
    n = gso.shape[0] // b
    if gso.layout == torch.sparse_csr and gso.values().numel() < DENSE_FILL * b * n * n:
        return gso  # the sampler's layout: decided without a conversion per call
    coo = gso.to_sparse_coo().coalesce()
    if coo.values().numel() < DENSE_FILL * b * n * n:
        return gso
    batch = torch.arange(b, device=gso.device).repeat_interleave(n)  # (B N,)
    return to_dense_adj(coo.indices(), batch, coo.values(), max_num_nodes=n)  # (B, N, N)


def _csr(edge_index: Tensor, weight: Tensor, size: int) -> Tensor:
    """CSR ``[size, size]`` from ``edge_index (2, E)`` (row, col) and ``weight (E,)``."""
    with warnings.catch_warnings():  # torch flags CSR construction as beta, once
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return to_torch_csr_tensor(edge_index, weight, size=(size, size))


class GraphShift(MessagePassing):
    """One shift ``S x`` on a sparse GSO: ``(S x)_k = sum_j S_kj x_j`` (sum aggregation).

    ``S`` is PyG's transposed adjacency ``adj_t [target k, source j]``, so
    message and aggregation fuse into one sparse-dense product (``spmm``):
    the cost is ``E C``, not ``N^2 C``.
    """

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x: Tensor, gso: Tensor) -> Tensor:
        """``x [B N, C]``, sparse ``gso [B N, B N]`` (or dense ``[B, N, N]``) -> ``[B N, C]``."""
        if gso.layout == torch.strided:  # a full GSO (:data:`DENSE_FILL`)
            b, n, _ = gso.shape
            return torch.bmm(gso, x.reshape(b, n, -1)).reshape(b * n, -1)
        out: Tensor = self.propagate(gso, x=x)
        return out

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        """``adj_t @ x``: sparse ``[M, M]`` times ``[M, C]``."""
        out: Tensor = spmm(adj_t, x, reduce="sum")
        return out


class GraphFilter(nn.Module):
    """``Y = sum_h S^h X W_h + b`` (one graph-convolution layer, ``hops + 1`` taps)."""

    def __init__(self, c_in: int, c_out: int, hops: int) -> None:
        super().__init__()
        self.hops = hops
        self.shift = GraphShift()
        self.taps = nn.Linear((hops + 1) * c_in, c_out)

    def reset_parameters(self) -> None:
        """Re-initialise the taps."""
        self.taps.reset_parameters()

    def forward(self, x: Tensor, gso: Tensor) -> Tensor:
        """``x [B, N, C_in]``, sparse ``gso [B N, B N]`` -> ``[B, N, C_out]``."""
        b, n, c = x.shape
        shifted = [x.reshape(b * n, c)]
        for _ in range(self.hops):
            shifted.append(self.shift(shifted[-1], gso))  # (B N, C_in)
        return self.taps(torch.cat(shifted, dim=-1)).reshape(b, n, -1)


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
        """``x [B, N, C_in]``, sparse ``gso [B N, B N]``, ``emb [B, N, E]`` -> ``[B, N, C_out]``."""
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
    """``D S^2 D^T``: rows and columns ``idx [B, M]`` of ``S^2`` (:func:`fitted_gso` layout).

    ``gso`` is the block-diagonal sparse ``[B N, B N]``; the product of its
    kept rows ``D S`` and kept columns ``S D^T`` costs what their non-zeros
    cost (``S^2`` itself is never formed). A dense ``gso [B, N, N]`` gives a
    dense ``[B, M, M]``.
    """
    if gso.layout == torch.strided:
        return _coarsen_dense(gso, idx)
    b, m = idx.shape
    n = gso.shape[0] // b
    keep = (idx + n * torch.arange(b, device=idx.device)[:, None]).reshape(-1)  # (B M,)
    coo = gso.to_sparse_coo()
    product = torch.sparse.mm(coo.index_select(0, keep), coo.index_select(1, keep)).coalesce()
    return fitted_gso(_csr(product.indices(), product.values(), b * m), b)


def _coarsen_dense(gso: Tensor, idx: Tensor) -> Tensor:
    """``D S^2 D^T`` of a dense ``gso [B, N, N]`` -> ``[B, M, M]``."""
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
            gso: ``[B, N, N]`` normalised interference graph
                (:func:`rrm.models.diffusion.features.model_inputs`), or the
                same as block-diagonal sparse ``[B N, B N]`` (:func:`sparse_gso`).
            u: ``[B, N, 3]`` node state.
        """
        gso = fitted_gso(gso, xk.shape[0])  # sparse (B N, B N) or dense (B, N, N)
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
