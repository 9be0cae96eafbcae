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

"The first n snapshots of a split" are the same everywhere (``rrm data gen
--split test --n N``, ``rrm gfm eval --n N``, fine-tuning's N shots): the
first n of the whole split as ``rrm data gen`` writes it without ``--n``.
The generator draws in chunks whose content depends on the chunk's size, so
:func:`split_chunk_sizes` fixes the chunks by the split's size, not by n,
and a prefix costs at most one chunk beyond what it keeps (about 6 s at
K = 80). Pre-training's draws from D1-D15 train are the exception: they are
``generate_d2d(config, n, rng)`` (a sample of the stream, as the shipped
backbone was trained; issue #13 replaces that corpus).

Each split of each entry has its own stream:
``SeedSequence(entropy=seed, spawn_key=(i, s))`` where i is the entry's
number (D18 -> 18) and s the split's position in :data:`SPLITS`. Splits of
one entry never share a stream, the same base seed gives the same bytes,
and a file written by :func:`rrm.sim.dataset.write_dataset` holds exactly
``split_prefix(entry, split, n, seed)`` (float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rrm.core.errors import InvalidInput, UnknownName
from rrm.sim.scenarios.d2d import D2DBatch, D2DConfig, chunk_rows, generate_d2d

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


def split_chunk_sizes(entry: CatalogEntry, split: str, n: int, num_links: int | None = None
                      ) -> list[int]:
    """Chunk sizes to draw so that the first ``n`` snapshots are the split's first ``n``.

    The chunks of the whole split (``sizes[split]`` snapshots; ``n`` when
    larger), up to the one that holds snapshot ``n``. ``num_links``
    overrides K (``rrm data gen --k``), which sets the chunk size.
    """
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    k = entry.config.num_links if num_links is None else num_links
    step = chunk_rows(D2DConfig(num_links=k))
    total = max(n, entry.sizes[split])
    sizes, lo = [], 0
    while lo < n:
        sizes.append(min(step, total - lo))
        lo += sizes[-1]
    return sizes


def split_prefix(entry: CatalogEntry, split: str, n: int, seed: int,
                 dtype: np.dtype | type = np.float64) -> D2DBatch:
    """The first ``n`` snapshots of a split (module docstring), ``gains [n, K, K]``."""
    rng = split_rng(entry, split, seed)
    parts = [generate_d2d(entry.config, m, rng, dtype) for m in split_chunk_sizes(entry, split, n)]
    def first(key: str) -> np.ndarray:
        return np.concatenate([getattr(b, key) for b in parts])[:n]

    return D2DBatch(first("gains"), first("large_scale"), first("tx_xy"), first("rx_xy"),
                    entry.config)
