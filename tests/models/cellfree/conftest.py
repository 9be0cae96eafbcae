"""Small random cell-free instances shared by the cell-free model tests."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core.types import CellFreeState
from rrm.models.cellfree.batch import CellFreeBatch
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree, to_state


def cellfree_state(n: int, seed: int, **overrides: object) -> CellFreeState:
    """``n`` snapshots of the paper's scenario with some fields replaced."""
    cfg = CellFreeConfig.from_overrides(**overrides)
    return to_state(generate_cellfree(cfg, n, np.random.default_rng(seed)))


@pytest.fixture()
def small_batch() -> CellFreeBatch:
    """16 instances, B=4, K=3, M=2, tight fronthaul (30 Mbit/s)."""
    return CellFreeBatch.of(cellfree_state(16, 3, num_aps=4, num_ues=3, fronthaul_mbps=30.0))
