"""The plain DNN ablation (EGAT sec. V-A, "DNN scheme", ref. [40]).

A fully connected network maps the flattened features of one instance (the
same inputs as EGAT: edges ``[B, K, 2M+1]``, APs ``[B, 2]``, UEs ``[K, 2]``)
to the beamformers and association probabilities of every pair. It ignores
the graph: it only runs for the B and K it was built for, and it is not
permutation-equivariant. Post-processing and training are EGAT's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rrm.core.errors import InvalidInput


@dataclass(frozen=True)
class DnnConfig:
    """Sizes (ref. [40] uses three hidden layers; widths ours)."""

    num_aps: int = 8  # B, Table I
    num_ues: int = 4  # K, Table I
    antennas: int = 2  # M, Table I
    width: int = 256
    layers: int = 3

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class DenseNet(nn.Module):
    """``(ap [n,B,2], ue [n,K,2], edge [n,B,K,2M+1])`` -> ``(v_raw, pi, share = 1)``."""

    def __init__(self, cfg: DnnConfig = DnnConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        b, k, m = cfg.num_aps, cfg.num_ues, cfg.antennas
        d_in = b * k * (2 * m + 1) + 2 * b + 2 * k
        layers: list[nn.Module] = []
        for i in range(cfg.layers):
            layers += [nn.Linear(d_in if i == 0 else cfg.width, cfg.width), nn.ReLU(),
                       nn.LayerNorm(cfg.width)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cfg.width, b * k * (2 * m + 1))

    def forward(self, ap: Tensor, ue: Tensor, edge: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """As :meth:`rrm.models.cellfree.egat.Egat.forward`, for this network's B and K only."""
        n, b, k, _ = edge.shape
        if (b, k) != (self.cfg.num_aps, self.cfg.num_ues):
            raise InvalidInput(f"the DNN was built for B={self.cfg.num_aps}, "
                               f"K={self.cfg.num_ues}; got B={b}, K={k}")
        z = torch.cat([edge.reshape(n, -1), ap.reshape(n, -1), ue.reshape(n, -1)], -1)
        out = self.head(self.body(z)).reshape(n, b, k, -1)
        m = self.cfg.antennas
        v_raw = torch.complex(out[..., :m], out[..., m:2 * m]) / math.sqrt(m)
        return v_raw, torch.sigmoid(out[..., 2 * m]), torch.ones_like(ap[..., 0])
