"""The GFM-RA data-set catalog D1-D20 (sec. IV-A) with reproducible splits.

* D1-D15 (pre-training): K in {20, 35, 50, 65, 80} crossed with
  [d_min, d_max] in {[2, 65], [10, 50], [30, 70]} m. The paper does not say
  how the 15 are numbered; here K is the outer index and the range the
  inner one: D1 = (20, [2, 65]), D2 = (20, [10, 50]), D3 = (20, [30, 70]),
  D4 = (35, [2, 65]), ..., D15 = (80, [30, 70]). Splits 100,000 / 10,000 /
  10,000 train / val / test.
* D16-D20 (few-shot adaptation): K = 20, 35, 50, 65, 80 with [1, 100] m.
  A 2,048-snapshot train pool (the largest N-shot; smaller N-shot sets are
  its prefixes), 512 for validation (our choice: the paper names none) and
  the paper's 5,000 test snapshots.

Each split of each entry has its own seed, derived from (base seed, entry,
split) with ``numpy.random.SeedSequence``: splits never share a stream, and
the same base seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import UnknownName
from sim.scenarios.d2d import D2DConfig

DENSITIES = (20, 35, 50, 65, 80)
PRETRAIN_RANGES = ((2.0, 65.0), (10.0, 50.0), (30.0, 70.0))
FINETUNE_RANGE = (1.0, 100.0)
SPLITS = ("train", "val", "test")
PRETRAIN_SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}
FINETUNE_SIZES = {"train": 2_048, "val": 512, "test": 5_000}
N_SHOTS = (64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class CatalogEntry:
    """One named data set: its scenario config and split sizes."""

    name: str
    index: int
    config: D2DConfig
    sizes: dict[str, int]

    @property
    def pretraining(self) -> bool:
        """True for D1-D15."""
        return self.index <= 15


def _entries() -> dict[str, CatalogEntry]:
    out: dict[str, CatalogEntry] = {}
    i = 0
    for k in DENSITIES:
        for d_min, d_max in PRETRAIN_RANGES:
            i += 1
            cfg = D2DConfig(num_links=k, d_min_m=d_min, d_max_m=d_max)
            out[f"D{i}"] = CatalogEntry(f"D{i}", i, cfg, dict(PRETRAIN_SIZES))
    for k in DENSITIES:
        i += 1
        cfg = D2DConfig(num_links=k, d_min_m=FINETUNE_RANGE[0], d_max_m=FINETUNE_RANGE[1])
        out[f"D{i}"] = CatalogEntry(f"D{i}", i, cfg, dict(FINETUNE_SIZES))
    return out


CATALOG = _entries()


def catalog_entry(name: str) -> CatalogEntry:
    """Look up D1..D20 (case-insensitive); UnknownName lists the valid names."""
    key = name.strip().upper()
    if key not in CATALOG:
        raise UnknownName(f"unknown catalog entry {name!r}; valid: D1-D20")
    return CATALOG[key]


def split_rng(entry: CatalogEntry, split: str, seed: int) -> np.random.Generator:
    """The generator of one split of one entry, independent of every other split."""
    if split not in SPLITS:
        raise UnknownName(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(entry.index, SPLITS.index(split)))
    return np.random.default_rng(seq)
