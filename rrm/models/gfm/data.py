"""Training data for GFM-RA: catalog snapshots as torch tensors, batched by size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rrm.sim.scenarios.catalog import catalog_entry, split_prefix, split_rng
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

    Every split but pre-training's is read as the first ``n`` snapshots of the
    whole split (:func:`rrm.sim.scenarios.catalog.split_prefix`): a 64-shot set
    is a subset of the 2,048-shot one, and the first 200 test snapshots are
    those of ``rrm data gen --split test``, whatever ``n`` is.
    """
    entry = catalog_entry(name)
    if split == "train" and entry.pretraining:  # a sample of the stream (catalog docstring)
        gains = generate_d2d(entry.config, n, split_rng(entry, split, seed)).gains
    else:
        gains = split_prefix(entry, split, n, seed).gains
    return GraphSet(entry.name, torch.from_numpy(gains), entry.config.noise_w,
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
