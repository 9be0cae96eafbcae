"""The GFM-RA data-set catalog D1-D20 (sec. IV-A, "Dataset Generation") with seeded splits.

* D1-D15 (pre-training): K in {20, 35, 50, 65, 80} crossed with
  [d_min, d_max] in {[2, 65], [10, 50], [30, 70]} m. The paper does not say
  how the 15 are numbered; here K is the outer index and the range the
  inner one, in the order the paper lists them::

      D1 = (20, [2, 65])   D2 = (20, [10, 50])   D3 = (20, [30, 70])
      D4 = (35, [2, 65])   ...                   D15 = (80, [30, 70])

  120,000 snapshots each, split 100,000 / 10,000 / 10,000 train/val/test.
* D16-D20 (few-shot adaptation): K = 20, 35, 50, 65, 80 with [1, 100] m
  (the paper's own assignment). Train pool 2,048 snapshots, the largest
  N-shot set; an N-shot set is the first N snapshots of the pool
  (N in :data:`N_SHOTS`). Validation 512 (our choice: the paper names none)
  and the paper's 5,000 test snapshots.

Each split of each entry has its own stream:
``SeedSequence(entropy=seed, spawn_key=(i, s))`` where i is the entry's
number (D18 -> 18) and s the split's position in :data:`SPLITS`. Splits of
one entry never share a stream, the same base seed gives the same bytes,
and a file written by :func:`rrm.sim.dataset.write_dataset` holds exactly
``generate_d2d(entry.config, n, split_rng(entry, split, seed))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rrm.core.errors import InvalidInput, UnknownName
from rrm.sim.scenarios.d2d import D2DConfig

DENSITIES = (20, 35, 50, 65, 80)  # K, sec. IV-A
PRETRAIN_RANGES = ((2.0, 65.0), (10.0, 50.0), (30.0, 70.0))  # [d_min, d_max] m, sec. IV-A
FINETUNE_RANGE = (1.0, 100.0)  # [d_min, d_max] m of D16-D20, sec. IV-A
SPLITS = ("train", "val", "test")
PRETRAIN_SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}  # sec. IV-A
FINETUNE_SIZES = {"train": 2_048, "val": 512, "test": 5_000}  # pool = max N-shot; val ours
N_SHOTS = (64, 128, 256, 512, 1024, 2048)  # sec. IV-A


@dataclass(frozen=True)
class CatalogEntry:
    """One named data set: its scenario config and split sizes (snapshots)."""

    name: str
    index: int
    config: D2DConfig
    sizes: dict[str, int]

    @property
    def pretraining(self) -> bool:
        """True for D1-D15 (pre-training), False for D16-D20 (few-shot adaptation)."""
        return self.index <= len(DENSITIES) * len(PRETRAIN_RANGES)


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
CATALOG_NAMES = tuple(CATALOG)


def catalog_entry(name: str) -> CatalogEntry:
    """Look up D1..D20 (case-insensitive); UnknownName lists the valid names."""
    key = str(name).strip().upper()
    if key not in CATALOG:
        raise UnknownName(f"unknown catalog entry {name!r}; valid: D1-D20")
    return CATALOG[key]


def split_seed(entry: CatalogEntry, split: str, seed: int) -> np.random.SeedSequence:
    """The seed sequence of one split of one entry (module docstring)."""
    if split not in SPLITS:
        raise UnknownName(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(entry.index, SPLITS.index(split)))


def split_rng(entry: CatalogEntry, split: str, seed: int) -> np.random.Generator:
    """The generator of one split of one entry, independent of every other split."""
    return np.random.default_rng(split_seed(entry, split, seed))
