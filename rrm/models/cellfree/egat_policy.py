"""The ``egat`` policy: a trained EGAT checkpoint as a cell-free policy.

The association is the deterministic ``x = [pi > 1/2]`` and the beamformers
are post-processed (eqs. 36-37; with the model's per-AP power share when it
was trained with ``--power-control``, as ``egat-small`` is), so per-AP power
always holds. Fronthaul
is learned (primal-dual) and then enforced by the rate cap
(:mod:`rrm.models.cellfree.rate_cap`, ``rate_cap=True``, default), which
lowers the stream powers of UEs served by overloaded APs; an instance the
cap leaves overloaded is answered as it is (the xApp's ``fronthaul`` guard
and fallback handle the rest);
``scale=True`` applies the heuristic scaling of sec. V-A, as the paper does
for its comparisons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, State
from rrm.models.cellfree.batch import CellFreeBatch, normalise_ap_power
from rrm.models.cellfree.fronthaul import scale_to_fronthaul
from rrm.models.cellfree.rate_cap import cap_rates
from rrm.models.cellfree.store import DEFAULT_CHECKPOINT, load_egat
from rrm.models.cellfree.train import TorchBatch, infer
from rrm.models.policy import Policy

FULL_POWER_RTOL = 1e-5  # float32 powers this close to the budget are the budget


class EgatPolicy(Policy):
    """EGAT inference on every instance of a cell-free state (one forward pass)."""

    version = "1"

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT, scale: bool = False, *,
                 rate_cap: bool = True, name: str = "egat") -> None:
        super().__init__(name)
        self.model, self.metadata = load_egat(checkpoint)
        self.scale = scale
        self.rate_cap = rate_cap

    def decide(self, state: State, objective: Objective) -> BeamformingAllocation:
        """Beamformers ``v`` and association ``x`` shaped like ``state.h``."""
        batch = CellFreeBatch.of(state, objective)
        m = batch.shape[-1]
        if m != self.model.cfg.antennas:
            raise InvalidInput(f"EGAT was trained for M={self.model.cfg.antennas} antennas, "
                               f"got M={m}")
        with torch.inference_mode():
            v, x = infer(self.model, TorchBatch.of_arrays(batch.h, batch.noise_w, batch.pmax_w,
                                                          batch.cap, batch.weights))
        # float32 round-off: rescale in float64 (full power, eq. 37, is then exact)
        power = (abs(v) ** 2).sum(axis=(-2, -1))
        target = np.where(power > batch.pmax_w * (1 - FULL_POWER_RTOL), batch.pmax_w, power)
        v = normalise_ap_power(v, target)
        if self.rate_cap:
            v, _ = cap_rates(batch, v, x)
        if self.scale:
            v, x, _ = scale_to_fronthaul(batch, v, x)
        return batch.allocation(v, x)
