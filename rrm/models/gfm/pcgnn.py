"""PCGNN: the message-passing power-control GNN of Shen et al. (IEEE JSAC 2021), a baseline.

EdgeConv-style layers with max aggregation and batch norm, as in the
authors' public power-control variant, written as a
:class:`torch_geometric.nn.MessagePassing` layer on the interference graph
in sparse form (an edge ``j -> k`` for every pair ``j != k`` whose CSI is
known)::

    m_kj = MLP1([z_j, e_kj])                 message from transmitter j to node k
    a_k  = max_{j -> k} m_kj                  max aggregation (0 without neighbours)
    z_k  = BN(MLP2([z_k, a_k]))               update

It exposes the backbone interface of :class:`rrm.models.gfm.backbone.GFMBackbone`
(``cfg.dim``, ``forward(graph) -> (B, K, d)``) so the same power head, the
same fine-tuning loop and the same checkpoints serve both. Networks of
different sizes batch as one disjoint PyG graph with a ``batch`` vector
(:func:`to_pyg`, :func:`pcgnn_powers`).

Checkpoint names: ``MessagePassing`` owns the methods ``message`` and
``update``, so the MLPs are the attributes ``message_mlp`` and ``update_mlp``;
:meth:`EdgeConvLayer.state_dict` and ``load_state_dict`` translate them to
and from ``message`` / ``update``, the names of the checkpoints written before
(``pcgnn-small-switch``): the checkpoint format is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing

from rrm.models.gfm.backbone import mlp
from rrm.models.gfm.features import GraphBatch
from rrm.models.gfm.head import GFMPowerModel

# attribute name -> checkpoint name (``MessagePassing.message/update`` are methods)
CHECKPOINT_NAMES = {"message_mlp.": "message.", "update_mlp.": "update."}


@dataclass(frozen=True)
class PCGNNConfig:
    """Sizes of the MPNN."""

    layers: int = 3
    dim: int = 32

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)


def _rename(state: dict[str, Any], prefix: str, names: dict[str, str]) -> None:
    """Rename keys ``prefix + old...`` to ``prefix + new...`` in place."""
    for key in [k for k in state if k.startswith(prefix)]:
        for old, new in names.items():
            if key.startswith(prefix + old):
                state[prefix + new + key[len(prefix + old):]] = state.pop(key)
                break


class EdgeConvLayer(MessagePassing):
    """One message-passing layer (max aggregation, batch norm).

    Shapes: ``z (N, f)`` node signals of all graphs of a batch, ``edge_index
    (2, E)`` (row 0 transmitter j, row 1 receiver k), ``edge_attr (E, 2)`` ->
    ``(N, d)``.
    """

    def __init__(self, dim: int, inp: int) -> None:
        super().__init__(aggr="max")
        self.message_mlp = mlp(inp + 2, dim, dim)
        self.update_mlp = mlp(inp + dim, dim, dim)
        self.norm = nn.BatchNorm1d(dim)
        self._register_state_dict_hook(_to_checkpoint_names)
        self.register_load_state_dict_pre_hook(_from_checkpoint_names)

    def reset_parameters(self) -> None:
        """Re-initialise both MLPs and the batch norm."""
        for module in (*self.message_mlp, *self.update_mlp, self.norm):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, z: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """``z (N, f)``, ``edge_index (2, E)``, ``edge_attr (E, 2)`` -> ``(N, d)``."""
        out: Tensor = self.propagate(edge_index, x=z, edge_attr=edge_attr)
        return out

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        """``m_kj = MLP1([z_j, e_kj])``: ``(E, f)``, ``(E, 2)`` -> ``(E, d)``."""
        return self.message_mlp(torch.cat([x_j, edge_attr], dim=-1))

    def update(self, inputs: Tensor, x: Tensor) -> Tensor:
        """``z_k = BN(MLP2([z_k, a_k]))``: aggregated ``(N, d)``, ``x (N, f)`` -> ``(N, d)``."""
        return self.norm(self.update_mlp(torch.cat([x, inputs], dim=-1)))


def _to_checkpoint_names(module: nn.Module, state: dict[str, Any], prefix: str,
                         local_metadata: Any) -> None:
    _rename(state, prefix, CHECKPOINT_NAMES)


def _from_checkpoint_names(module: nn.Module, state: dict[str, Any], prefix: str,
                           *args: Any) -> None:
    _rename(state, prefix, {v: k for k, v in CHECKPOINT_NAMES.items()})


def sparse_edges(known: Tensor) -> Tensor:
    """``edge_index (2, E)`` of the pairs ``j != k`` with known CSI in ``known (B, K, K)``.

    Nodes are numbered ``b K + k`` (graphs side by side); row 0 is the
    transmitter ``j``, row 1 the receiver ``k`` (PyG's source -> target).
    """
    b, k, _ = known.shape
    keep = known & ~torch.eye(k, dtype=torch.bool, device=known.device)
    graph, rx, tx = keep.nonzero(as_tuple=True)  # (E,) each
    return torch.stack([graph * k + tx, graph * k + rx])


def to_pyg(g: GraphBatch, masked: Tensor | None = None) -> Data:
    """The dense batch as one disjoint PyG graph: ``x (B K, 1)``, ``edge_attr (E, 2)``, ``batch``.

    ``masked (B, K, K)`` hides extra edges, like unknown CSI.
    """
    known = g.known if masked is None else g.known & ~masked
    b, k = known.shape[:2]
    edge_index = sparse_edges(known)
    graph, rx, tx = edge_index[1] // k, edge_index[1] % k, edge_index[0] % k
    return Data(x=g.node.reshape(b * k, -1), edge_index=edge_index,
                edge_attr=g.edge[graph, rx, tx], pmax_w=g.pmax_w.reshape(-1),
                batch=torch.arange(b).repeat_interleave(k))


class PCGNN(nn.Module):
    """Stack of EdgeConv layers on the interference graph."""

    def __init__(self, cfg: PCGNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = [1] + [cfg.dim] * cfg.layers
        self.layers = nn.ModuleList(EdgeConvLayer(cfg.dim, dims[i]) for i in range(cfg.layers))

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        for layer in self.layers:
            layer.reset_parameters()  # type: ignore[operator]

    def embed(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Node embeddings ``(N, d)`` of a sparse batch: ``x (N, 1)``, ``edge_attr (E, 2)``."""
        z = x
        for layer in self.layers:
            z = layer(z, edge_index, edge_attr)
        return z

    def forward(self, g: GraphBatch, masked: Tensor | None = None) -> Tensor:
        """Node embeddings ``(B, K, d)`` of a dense batch of same-size graphs."""
        data = to_pyg(g, masked)
        b, k = g.known.shape[:2]
        return self.embed(data.x, data.edge_index, data.edge_attr).reshape(b, k, -1)


def pcgnn_powers(model: GFMPowerModel, graphs: Sequence[GraphBatch],
                 objective: str = "sum") -> list[Tensor]:
    """Powers of networks of different sizes in one pass: ``[(B_i, K_i)]`` in watts.

    ``model`` is a power model around a :class:`PCGNN`; the graphs are
    joined with ``Batch.from_data_list`` (one ``batch`` vector), embedded
    together and split back. The policy's several-indications pass
    (``GFMPolicy.prefetch``) can use it for mixed sizes.
    """
    backbone = model.backbone
    if not isinstance(backbone, PCGNN):
        raise TypeError(f"pcgnn_powers needs a PCGNN backbone, got {type(backbone).__name__}")
    parts = [to_pyg(g) for g in graphs]
    data = Batch.from_data_list([Data(x=p.x, edge_index=p.edge_index, edge_attr=p.edge_attr,
                                      pmax_w=p.pmax_w) for p in parts])
    z = backbone.embed(data.x, data.edge_index, data.edge_attr)  # (N, d)
    power = model.head(z[None], data.pmax_w[None], objective)[0]  # (N,)
    sizes = [g.pmax_w.numel() for g in graphs]
    return [p.reshape(g.pmax_w.shape) for p, g in zip(power.split(sizes), graphs, strict=True)]
