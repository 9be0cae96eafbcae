"""The pre-training corpus: interference-network families mixed with weights.

A :class:`CorpusSpec` names families and their weights; each draw picks one
family (by weight) and one size K, then that family's generator makes a
batch of snapshots of that K (a batch has one K: the backbone is dense).
Families (docs/gfm.md, "Pre-training corpus"):

* ``catalog``: a D1-D15 entry of the GFM-RA catalog, uniformly (its own K);
* ``rayleigh-ic``, ``gaussian-ic``: i.i.d. interference channels, unit noise,
  SNR 0-30 dB (:func:`rrm.sim.scenarios.families.generate_channel`);
* ``itu1411-d2d``: d2d pairs, ITU-R P.1411 path loss, ~70 dB direct SNR;
* ``rayleigh-ic-wide``, ``itu1411-varied``: the same generators over wider
  regimes (SNR -10-40 dB and cross links -20-+10 dB; density, pair distance,
  budget and shadowing drawn per batch), so the corpus spans INR and SNR
  regimes no single benchmark has.

Every draw depends only on the generator it is given, so a stream seeded per
batch is reproducible whoever draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rrm.core.errors import ConfigError
from rrm.sim.scenarios.catalog import DENSITIES, PRETRAIN_RANGES, catalog_entry
from rrm.sim.scenarios.d2d import generate_d2d
from rrm.sim.scenarios.families import (
    ChannelConfig,
    Itu1411Config,
    Snapshots,
    generate_channel,
    generate_itu1411,
)

Draw = Callable[[np.random.Generator, int, int], Snapshots]
PRETRAIN_ENTRIES = len(DENSITIES) * len(PRETRAIN_RANGES)  # D1-D15


def _catalog(rng: np.random.Generator, n: int, k: int) -> Snapshots:
    """A D1-D15 entry picked uniformly (its K, not ``k``), scalar budgets broadcast."""
    del k
    entry = catalog_entry(f"D{int(rng.integers(1, PRETRAIN_ENTRIES + 1))}")
    batch = generate_d2d(entry.config, n, rng)
    size = batch.gains.shape[:2]
    return Snapshots(batch.gains.astype(np.float64), np.full(size, entry.config.noise_w),
                     np.full(size, entry.config.pmax_w))


WIDE_IC = ChannelConfig("rayleigh", snr_db=(-10.0, 40.0), cross_db=(-20.0, 10.0))


def _itu1411_varied(rng: np.random.Generator, n: int, k: int) -> Snapshots:
    """ITU-R P.1411 pairs with the layout and budget drawn per batch (ours)."""
    cfg = Itu1411Config(density_per_km2=float(10.0 ** rng.uniform(1.5, 3.5)),
                        d_max_m=float(rng.uniform(10.0, 100.0)),
                        pmax_dbm=float(rng.uniform(0.0, 40.0)),
                        shadowing_db=float(rng.uniform(4.0, 10.0)))
    return generate_itu1411(cfg, n, k, rng)


FAMILIES: dict[str, Draw] = {
    "catalog": _catalog,
    "rayleigh-ic": lambda rng, n, k: generate_channel(ChannelConfig("rayleigh"), n, k, rng),
    "gaussian-ic": lambda rng, n, k: generate_channel(ChannelConfig("gaussian"), n, k, rng),
    "itu1411-d2d": lambda rng, n, k: generate_itu1411(Itu1411Config(), n, k, rng),
    "rayleigh-ic-wide": lambda rng, n, k: generate_channel(WIDE_IC, n, k, rng),
    "itu1411-varied": _itu1411_varied,
}


@dataclass(frozen=True)
class CorpusSpec:
    """Families with weights (normalised on use) and the K range of the non-catalog ones."""

    families: tuple[tuple[str, float], ...] = (
        ("catalog", 0.3), ("rayleigh-ic", 0.15), ("gaussian-ic", 0.15), ("itu1411-d2d", 0.15),
        ("rayleigh-ic-wide", 0.125), ("itu1411-varied", 0.125))
    k_range: tuple[int, int] = (5, 100)  # the K = 5-100

    def __post_init__(self) -> None:
        if not self.families:
            raise ConfigError("a corpus needs at least one family")
        for name, weight in self.families:
            if name not in FAMILIES:
                raise ConfigError(f"unknown corpus family {name!r}; choose from "
                                  f"{', '.join(FAMILIES)}")
            if not weight > 0:
                raise ConfigError(f"family {name!r} needs a weight > 0, got {weight}")
        lo, hi = self.k_range
        if not 2 <= lo <= hi:
            raise ConfigError(f"k_range must satisfy 2 <= low <= high, got {self.k_range}")

    @classmethod
    def parse(cls, text: str, k_range: tuple[int, int] = (5, 100)) -> CorpusSpec:
        """``"catalog:0.4,rayleigh-ic:0.2"`` (a bare name weighs 1) -> spec."""
        families = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, weight = part.partition(":")
            try:
                families.append((name.strip(), float(weight) if weight else 1.0))
            except ValueError:
                raise ConfigError(f"bad corpus weight in {part!r}; expected NAME:WEIGHT") from None
        return cls(tuple(families), k_range)

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return {"families": [list(f) for f in self.families], "k_range": list(self.k_range)}

    def draw(self, rng: np.random.Generator, n: int) -> tuple[str, Snapshots]:
        """One batch: a family by weight, K uniform in ``k_range``, ``n`` snapshots."""
        weights = np.array([w for _, w in self.families])
        name = self.families[int(rng.choice(len(weights), p=weights / weights.sum()))][0]
        k = int(rng.integers(self.k_range[0], self.k_range[1] + 1))
        return name, FAMILIES[name](rng, n, k)
