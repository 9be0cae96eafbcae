"""Dense vs sparse (torch_geometric) graph ops of the shipped models, torch on one thread.

* U-GNN denoiser (``diffusion-small``), one forward pass at N = 20 / 400 / 1,000
  pairs (density 8.2 pairs/km^2), batch 32 (the diffusion policy's refill:
  one network x 32 samples): *before* = the dense implementation of commit
  b0ead89 (``torch.bmm`` filters, ``S^2`` by a dense product), re-run here
  with the same weights; *after* = the sparse ``GraphShift`` filters and
  sparse coarsening (dense where a GSO is full, ``DENSE_FILL``), with the
  dense GSO converted inside each call and with the GSO converted once
  (``fitted_gso``, as a sampling pass can do).
* GFM-RA attention (one ``BiasAttention`` layer of ``gfm-small-sum``) at
  K = 20 / 50 / 80, batch 1 and 8: dense (shipped) vs a PyG equivalent over
  an ``edge_index`` of all pairs (``torch_geometric.utils.softmax`` + ``scatter``).
* PCGNN (``pcgnn-small-switch``) at K = 20 / 50 / 80, batch 1 and 8: the dense
  EdgeConv of b0ead89 vs the ``MessagePassing`` layer.

Median of 20 calls each. Prints a table and writes bench/results/graph_ops.md
(+ .json). Run: ``python bench/bench_graph_ops.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.models.diffusion.data import ergodic_config  # noqa: E402
from rrm.models.diffusion.features import model_inputs  # noqa: E402
from rrm.models.diffusion.model import load_diffusion  # noqa: E402
from rrm.models.diffusion.ugnn import (  # noqa: E402
    UGNN,
    fitted_gso,
    gather_nodes,
    step_embedding,
    unpool,
)
from rrm.models.gfm.backbone import BiasAttention  # noqa: E402
from rrm.models.gfm.features import GraphBatch, graph_batch  # noqa: E402
from rrm.models.gfm.policy import CHECKPOINTS  # noqa: E402
from rrm.models.gfm.store import load_power_model  # noqa: E402
from rrm.sim.scenarios.ergodic import generate_ergodic_network  # noqa: E402

CALLS, SAMPLES, DENSITY, F_MIN = 20, 32, 8.2, 0.6


def median_ms(fn: Callable[[], object], calls: int = CALLS) -> float:
    """Median wall time of ``fn()`` in ms (one warm-up call first)."""
    fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


# ---- U-GNN: the dense forward of b0ead89 with the module's weights ----------------------

def dense_filter(f: torch.nn.Module, x: Tensor, gso: Tensor) -> Tensor:
    shifted = [x]
    for _ in range(f.hops):
        shifted.append(torch.bmm(gso, shifted[-1]))
    return f.taps(torch.cat(shifted, dim=-1))


def dense_block(block: torch.nn.Module, x: Tensor, gso: Tensor, emb: Tensor) -> Tensor:
    h = x
    for i, f in enumerate(block.filters):
        h = dense_filter(f, h, gso)
        h = torch.nn.functional.silu(h + block.condition(emb) if i == 0 else h)
    return block.norm(h + block.residual(x))


def dense_coarsen(gso: Tensor, idx: Tensor) -> Tensor:
    s2 = torch.bmm(gso, gso)
    rows = torch.gather(s2, 1, idx[..., None].expand(-1, -1, s2.shape[-1]))
    return torch.gather(rows, 2, idx[:, None, :].expand(-1, idx.shape[1], -1))


def dense_ugnn(m: UGNN, xk: Tensor, k: Tensor, gso: Tensor, u: Tensor) -> Tensor:
    emb = m.step_mlp(step_embedding(k, m.cfg.embed_dim))[:, None, :] + m.node_mlp(u)
    h = m.lift(torch.cat([xk[..., None], u], dim=-1))
    skips = []
    for block, pool in zip(m.down, m.pools, strict=True):
        h = dense_block(block, h, gso, emb)
        idx, coarse = pool(h)
        skips.append((h, idx, gso, emb))
        h, gso, emb = coarse, dense_coarsen(gso, idx), gather_nodes(emb, idx)
    h = dense_block(m.bottom, h, gso, emb)
    for block, (skip, idx, fine_gso, fine_emb) in zip(m.up, reversed(skips), strict=True):
        h = dense_block(block, torch.cat([unpool(h, idx, skip.shape[1]), skip], -1),
                        fine_gso, fine_emb)
    return m.readout(h)[..., 0]


def ugnn_row(denoiser: UGNN, n: int) -> dict[str, object]:
    """Timings of one size: batch 32 = one network x 32 samples, step 250."""
    cfg = ergodic_config(n, DENSITY, F_MIN)
    large = generate_ergodic_network(cfg, np.random.default_rng(7)).large_scale
    gso, u = model_inputs(large[None], cfg.pmax_w / cfg.noise_w, F_MIN)
    gso, u = gso.repeat(SAMPLES, 1, 1), u.repeat(SAMPLES, 1, 1)  # (32, N, N), (32, N, 3)
    xk = torch.randn(SAMPLES, n, generator=torch.Generator().manual_seed(0))
    k = torch.full((SAMPLES,), 250)
    given = fitted_gso(gso, SAMPLES)
    with torch.no_grad():
        diff = (dense_ugnn(denoiser, xk, k, gso, u) - denoiser(xk, k, gso, u)).abs().max()
        return {"what": "ugnn", "n": n, "batch": SAMPLES, "edges": int(torch.count_nonzero(gso)),
                "layout": str(given.layout), "max_abs_diff": float(diff),
                "dense_ms": median_ms(lambda: dense_ugnn(denoiser, xk, k, gso, u)),
                "sparse_ms": median_ms(lambda: denoiser(xk, k, gso, u)),
                "sparse_given_ms": median_ms(lambda: denoiser(xk, k, given, u)),
                "convert_ms": median_ms(lambda: fitted_gso(gso, SAMPLES))}


def ugnn_rows() -> list[dict[str, object]]:
    denoiser = load_diffusion()[0].denoiser.eval()
    rows = []
    for n in (20, 400, 1000):
        rows.append(ugnn_row(denoiser, n))
        print(rows[-1], flush=True)
    return rows


# ---- GFM-RA attention: dense vs all-pairs edge_index ----------------------------------

def sparse_attention(att: BiasAttention, z: Tensor, bias: Tensor, edge_index: Tensor) -> Tensor:
    """``z (N, d)``, ``bias (E, H)``, ``edge_index (2, E)`` (j -> k, all pairs) -> ``(N, d)``."""
    n, d = z.shape
    q, key, v = att.qkv(z).view(n, 3, att.heads, att.head_dim).unbind(1)  # (N, H, d_h) each
    src, dst = edge_index
    scores = (q[dst] * key[src]).sum(-1) / att.head_dim**0.5 + bias  # (E, H)
    alpha = softmax(scores, dst, num_nodes=n)  # per receiver k over its senders j
    out = scatter(alpha[..., None] * v[src], dst, dim=0, dim_size=n, reduce="sum")
    return att.out(out.reshape(n, d))


def attention_row(att: BiasAttention, k: int, b: int) -> dict[str, object]:
    """Dense vs all-pairs sparse attention, ``b`` snapshots of ``k`` links."""
    z = torch.randn(b, k, att.heads * att.head_dim)
    bias = torch.randn(b, att.heads, k, k)  # (B, H, K, K): [b, h, rx k, tx j]
    graph, rx, tx = torch.ones(b, k, k, dtype=torch.bool).nonzero(as_tuple=True)
    edge_index = torch.stack([graph * k + tx, graph * k + rx])  # (2, B K^2)
    bias_e = bias.permute(0, 2, 3, 1)[graph, rx, tx]  # (E, H)
    zf = z.reshape(b * k, -1)
    with torch.no_grad():
        diff = (att(z, bias).reshape(b * k, -1)
                - sparse_attention(att, zf, bias_e, edge_index)).abs().max()
        return {"what": "gfm-attention", "k": k, "batch": b,
                "edges": int(edge_index.shape[1]), "max_abs_diff": float(diff),
                "dense_ms": median_ms(lambda: att(z, bias)),
                "sparse_ms": median_ms(lambda: sparse_attention(att, zf, bias_e, edge_index))}


def attention_rows() -> list[dict[str, object]]:
    backbone = load_power_model(CHECKPOINTS / "gfm-small-sum")[0].backbone.eval()
    rows = []
    for k in (20, 50, 80):
        for b in (1, 8):
            rows.append(attention_row(backbone.layers[0].attention, k, b))
            print(rows[-1], flush=True)
    return rows


# ---- PCGNN: the dense EdgeConv of b0ead89 vs MessagePassing -----------------------------

def dense_pcgnn(backbone: torch.nn.Module, g: GraphBatch) -> Tensor:
    z, k = g.node, g.node.shape[1]
    keep = g.known & ~torch.eye(k, dtype=torch.bool)
    for layer in backbone.layers:
        zj = z.unsqueeze(1).expand(-1, k, -1, -1)
        m = layer.message_mlp(torch.cat([zj, g.edge], dim=-1))
        agg = m.masked_fill(~keep.unsqueeze(-1), float("-inf")).max(dim=2).values
        agg = torch.where(torch.isfinite(agg), agg, torch.zeros_like(agg))
        out = layer.update_mlp(torch.cat([z, agg], dim=-1))
        z = layer.norm(out.reshape(-1, out.shape[-1])).reshape(out.shape)
    return z


def pcgnn_row(backbone: torch.nn.Module, k: int, b: int) -> dict[str, object]:
    """Dense EdgeConv vs MessagePassing on ``b`` random networks of ``k`` links."""
    rng = np.random.default_rng(k + b)
    gains = rng.exponential(size=(b, k, k)) * 10 ** rng.uniform(-12, -8, (b, k, k))
    g = graph_batch(torch.from_numpy(gains), 1e-13, 0.01)
    with torch.no_grad():
        diff = (dense_pcgnn(backbone, g) - backbone(g)).abs().max()
        return {"what": "pcgnn", "k": k, "batch": b, "max_abs_diff": float(diff),
                "dense_ms": median_ms(lambda: dense_pcgnn(backbone, g)),
                "sparse_ms": median_ms(lambda: backbone(g))}


def pcgnn_rows() -> list[dict[str, object]]:
    backbone = load_power_model(CHECKPOINTS / "pcgnn-small-switch")[0].backbone.eval()
    rows = []
    for k in (20, 50, 80):
        for b in (1, 8):
            rows.append(pcgnn_row(backbone, k, b))
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, object]], size: str, extra: bool = False) -> list[str]:
    head = f"| {size} | batch | dense ms | sparse ms |" + (" sparse, GSO given ms |"
                                                          " convert ms |" if extra else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r[size]} | {r['batch']} | {r['dense_ms']:.2f} | {r['sparse_ms']:.2f} |"
        if extra:
            line += f" {r['sparse_given_ms']:.2f} | {r['convert_ms']:.2f} |"
        lines.append(line)
    return lines


def main() -> None:
    torch.set_num_threads(1)
    ugnn, attention, pcgnn = ugnn_rows(), attention_rows(), pcgnn_rows()
    lines = ["# Graph ops: dense vs sparse (torch_geometric)", "", machine_line(),
             f"Torch on 1 thread, median of {CALLS} calls.", "",
             "## U-GNN denoiser forward (diffusion-small, batch 32 = one refill)", "",
             "dense = before (commit b0ead89); sparse = shipped now (sparse GSO filters where "
             "the GSO is sparse, dense on full ones), dense GSO converted in the call; GSO "
             "given = converted once by the caller (`fitted_gso`).", ""]
    lines += table(ugnn, "n", extra=True)
    lines += ["", "## GFM-RA attention, one layer (gfm-small-sum): dense is shipped", ""]
    lines += table(attention, "k")
    lines += ["", "## PCGNN forward (pcgnn-small-switch): sparse MessagePassing is shipped", ""]
    lines += table(pcgnn, "k")
    diffs = {r["what"]: max(float(x["max_abs_diff"]) for x in (ugnn + attention + pcgnn)
                            if x["what"] == r["what"]) for r in ugnn + attention + pcgnn}
    lines += ["", "Largest |dense - sparse| of the outputs: " +
              ", ".join(f"{w} {d:.1e}" for w, d in diffs.items()) + "."]
    print(save_results("graph_ops", lines, ugnn + attention + pcgnn))


if __name__ == "__main__":
    main()
