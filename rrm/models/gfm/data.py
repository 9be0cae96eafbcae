"""Training data for GFM-RA: catalog snapshots as torch tensors, batched by size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rrm.sim.scenarios.catalog import catalog_entry, split_rng
from rrm.sim.scenarios.d2d import generate_d2d


@dataclass
class GraphSet:
    """Snapshots of one catalog entry: ``gains (n, K, K)`` float64 and budgets (W)."""

    name: str
    gains: torch.Tensor
    noise_w: float
    pmax_w: float


def load_entry(name: str, split: str, n: int, seed: int) -> GraphSet:
    """``n`` snapshots of a catalog split, generated from its seed.

    N-shot training sets of the fine-tuning entries (D16-D20) are prefixes of
    the split's full 2,048-snapshot pool, so a 64-shot set is a subset of the
    2,048-shot one (the generator's stream depends on ``n``: drawing 64
    directly would give other snapshots).
    """
    entry = catalog_entry(name)
    pool = entry.sizes[split] if (split == "train" and not entry.pretraining) else n
    batch = generate_d2d(entry.config, max(pool, n), split_rng(entry, split, seed))
    return GraphSet(entry.name, torch.from_numpy(batch.gains[:n]), entry.config.noise_w,
                    entry.config.pmax_w)


def parse_entries(spec: str) -> list[str]:
    """``"D1-D15"`` or ``"D16,D18"`` -> entry names."""
    names: list[str] = []
    for part in spec.split(","):
        part = part.strip().upper()
        if "-" in part:
            lo, hi = (int(p.strip().lstrip("D")) for p in part.split("-"))
            names += [f"D{i}" for i in range(lo, hi + 1)]
        elif part:
            names.append(part)
    for name in names:
        catalog_entry(name)  # validates
    return names


def minibatches(sets: list[GraphSet], batch_size: int,
                rng: np.random.Generator) -> Iterator[tuple[GraphSet, torch.Tensor]]:
    """Shuffled minibatches, each from one set (one K), sets interleaved at random."""
    plan = []
    for i, s in enumerate(sets):
        order = rng.permutation(len(s.gains))
        plan += [(i, order[lo : lo + batch_size]) for lo in range(0, len(order), batch_size)]
    for j in rng.permutation(len(plan)):
        i, idx = plan[j]
        yield sets[i], sets[i].gains[torch.from_numpy(idx)]
