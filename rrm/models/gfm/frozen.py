"""A frozen TorchScript graph of a fine-tuned GFM-RA model, for the slot loop.

Eager PyTorch pays Python dispatch per op (~200 ops per forward of the
``small`` model); on a busy CPU that overhead is most of a K = 20 decision.
:func:`freeze_power_model` traces the model once on a small example
(``torch.jit.trace``, sizes recorded as symbolic, so any batch size and K
run through the same graph) and freezes it (weights folded in as
constants). It runs without the profiling executor's optimisation
(``torch.jit.optimized_execution(False)``): that re-profiles and re-fuses
for every new input shape, and the loop's batch size changes from slot to
slot (first calls of a new shape took 0.1-0.6 s). The graph computes
exactly the eager arithmetic; tests check powers equal to eager within 1e-5
of Pmax for several K and batch sizes.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from rrm.models.gfm.features import GraphBatch
from rrm.models.gfm.head import PROMPTS, GFMPowerModel

TRACE_BATCH, TRACE_LINKS = 2, 6  # example sizes (any B, K run afterwards)
PROMPT_INDEX = {name: torch.tensor(i) for i, name in enumerate(PROMPTS)}


class _TensorForward(nn.Module):
    """``GFMPowerModel.forward`` with plain tensor inputs and the prompt as an index
    tensor, so one traced graph serves every objective of a switchable head."""

    def __init__(self, model: GFMPowerModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, node: Tensor, edge: Tensor, known: Tensor, pmax_w: Tensor,
                prompt: Tensor) -> Tensor:
        """``node (B, K, 1)``, ``edge (B, K, K, 2)``, ``known (B, K, K)`` bool,
        ``pmax_w (B, K)`` float64, ``prompt ()`` int64 -> powers ``(B, K)`` in watts."""
        g = GraphBatch(node, edge, known, pmax_w, pmax_w, pmax_w)  # gains/noise unused here
        z = self.model.backbone(g)  # (B, K, d)
        head = self.model.head
        if head.prompt is not None:  # as PowerHead.forward, with the index as an input
            z = z + head.prompt(prompt)
        return pmax_w * torch.sigmoid(head.net(z).squeeze(-1)).to(pmax_w.dtype)


def freeze_power_model(model: GFMPowerModel) -> torch.jit.ScriptModule:
    """The model's forward as a frozen TorchScript graph (:func:`run_frozen` calls it)."""
    b, k = TRACE_BATCH, TRACE_LINKS
    example = (torch.zeros(b, k, 1), torch.zeros(b, k, k, 2),
               torch.ones(b, k, k, dtype=torch.bool), torch.ones(b, k, dtype=torch.float64),
               torch.tensor(0))
    wrapper = _TensorForward(model.eval()).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # jit.freeze: still the fastest here
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        return torch.jit.freeze(traced)


def run_frozen(graph: torch.jit.ScriptModule, g: GraphBatch, objective: str = "sum") -> Tensor:
    """Powers ``(B, K)`` of the frozen graph on ``g`` for ``objective`` (a head prompt;
    ignored by a head without prompts)."""
    index = PROMPT_INDEX.get(objective, PROMPT_INDEX["sum"])
    with torch.jit.optimized_execution(False):
        out: Tensor = graph(g.node, g.edge, g.known, g.pmax_w, index)
    return out
