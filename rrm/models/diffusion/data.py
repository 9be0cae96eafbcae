"""Expert data sets: primal-dual samples over 4 densities x 5 f_min levels (seed 004, sec. 3.1).

The paper draws 32 networks of N = 400 pairs per density (R in 5800...7800 m)
and runs the expert at each f_min in {0.4, ..., 0.8}: 640 instances x 200
samples. On a 2-core CPU we scale N down (default 20 pairs) and keep the
densities by shrinking the square (``R = sqrt(N / density)``); the networks
per density are a parameter (default 8).

The generator writes one ``density-<i>.npz`` per density into a directory and
skips those already there (resumable); the same seed gives the same bytes.
Each file holds ``large_scale [n, N, N]``, ``f_min [n * L]``, ``network [n * L]``
(row of ``large_scale``), ``samples [n * L, S, N]`` (``p / Pmax``), and for
the paper's Fig. 1 the dual trajectories of the first network ``duals
[L, T_d, N]`` and the mean violated fraction ``violated [L, T]``.
The split (5:1:2, sec. 3.2) is by network, so all f_min levels of a network
fall in the same split.

Compact files (``compact=True``, for N = 400 runs shipped back from a GPU
machine): ``samples_u8`` holds the shares quantised to 1/255 instead of
``samples``, ``large_scale`` is left out and regenerated on load from the
stored ``seed``, ``index``, ``num_pairs`` and ``density`` (the generator is
seeded numpy), and the Fig. 1 curves are float16 (duals of the first
:data:`COMPACT_DUAL_USERS` users only). A data directory may hold parts in
sub-directories (one per seed); the loader reads every ``density-*.npz`` below it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.models.diffusion.expert import ExpertConfig, run_expert
from rrm.sim.scenarios.ergodic import (
    DENSITIES_PER_KM2,
    F_MIN_LEVELS,
    ErgodicConfig,
    generate_ergodic,
)

COMPACT_DUAL_USERS = 4  # users of the first network whose duals a compact file keeps (Fig. 1)
SPLITS = {"train": (0.0, 5 / 8), "val": (5 / 8, 6 / 8), "test": (6 / 8, 1.0)}  # 5:1:2, sec. 3.2


@dataclass(frozen=True)
class ExpertDataConfig:
    """What to generate (paper: N = 400, 32 networks per density; scaled for CPU)."""

    num_pairs: int = 20  # N; paper 400 (sec. 3), scaled down for a 2-core CPU
    networks_per_density: int = 8  # paper 32 (sec. 3)
    densities: tuple[float, ...] = DENSITIES_PER_KM2  # pairs/km^2, sec. 3
    f_min_levels: tuple[float, ...] = F_MIN_LEVELS  # bit/s/Hz, sec. 3.1
    seed: int = 0
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    compact: bool = False  # uint8 samples, large_scale regenerated on load (ours)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready config."""
        return asdict(self)


def ergodic_config(num_pairs: int, density_per_km2: float, f_min: float = 0.6) -> ErgodicConfig:
    """The ergodic scenario with ``N`` pairs at a density: side ``R = sqrt(N / density)`` km."""
    side = 1000.0 * math.sqrt(num_pairs / density_per_km2)
    return ErgodicConfig.from_overrides(num_pairs=num_pairs, side_m=side, f_min=f_min)


def density_networks(num_pairs: int, density: float, networks: int, seed: int,
                     index: int) -> NDArray[np.float64]:
    """``large_scale [n, N, N]`` of the data set's density ``index`` (seeded by ``seed, index``)."""
    ecfg = ergodic_config(num_pairs, density)
    rng = np.random.default_rng([seed, index])
    return generate_ergodic(ecfg, networks, rng).large_scale


def generate_density(cfg: ExpertDataConfig, index: int,
                     progress: Callable[[int], None] | None = None,
                     device: str = "cpu") -> dict[str, NDArray[Any]]:
    """Networks of density ``cfg.densities[index]`` and their expert samples at every f_min.

    One batched expert run over every (network, f_min) instance, on ``device``.
    """
    ecfg = ergodic_config(cfg.num_pairs, cfg.densities[index])
    large = density_networks(cfg.num_pairs, cfg.densities[index], cfg.networks_per_density,
                             cfg.seed, index)  # (n, N, N)
    levels = np.asarray(cfg.f_min_levels)
    n = len(large)
    rows = np.repeat(np.arange(n), len(levels))  # instance -> network
    fmin = np.tile(levels, n)
    res = run_expert(large[rows], ecfg.noise_w, ecfg.pmax_w, fmin, cfg.expert,
                     seed=cfg.seed * 1000 + index, progress=progress, device=device)
    first = np.arange(len(levels))  # the first network's instances, one per f_min
    return {"large_scale": large, "f_min": fmin, "network": rows, "samples": res.samples,
            "duals": np.moveaxis(res.duals[:, first], 1, 0), "violated": res.violated[:, first].T,
            "worst_slack": res.worst_slack[:, first].T, "density": np.asarray(cfg.densities[index]),
            "noise_w": np.asarray(ecfg.noise_w), "pmax_w": np.asarray(ecfg.pmax_w)}


def compact(arrays: dict[str, NDArray[Any]], cfg: ExpertDataConfig,
            index: int) -> dict[str, NDArray[Any]]:
    """A density's arrays in the compact form (uint8 samples, no large_scale, float16 duals)."""
    out = {k: v for k, v in arrays.items() if k not in ("large_scale", "samples", "duals")}
    out["samples_u8"] = np.round(arrays["samples"] * 255).astype(np.uint8)
    out["duals"] = arrays["duals"][..., :COMPACT_DUAL_USERS].astype(np.float16)
    for key in ("violated", "worst_slack"):  # Fig. 1 curves: float16 is plenty
        out[key] = arrays[key].astype(np.float16)
    out.update(seed=np.asarray(cfg.seed), index=np.asarray(index),
               num_pairs=np.asarray(cfg.num_pairs), networks=np.asarray(len(arrays["large_scale"])))
    return out


def networks_of(z: Any) -> NDArray[np.float64]:
    """``large_scale [n, N, N]`` of a density file (regenerated from the seed when compact)."""
    if "large_scale" in z.files:
        return np.asarray(z["large_scale"])
    return density_networks(int(z["num_pairs"]), float(z["density"]), int(z["networks"]),
                            int(z["seed"]), int(z["index"]))


def samples_of(z: Any) -> NDArray[np.float64]:
    """``samples [I, S, N]`` (``p / Pmax``) of a density file, compact or not."""
    if "samples" in z.files:
        return np.asarray(z["samples"])
    return np.asarray(z["samples_u8"], dtype=np.float64) / 255.0


def generate_expert_data(cfg: ExpertDataConfig, out: str | Path,
                         progress: Callable[[int, int], None] | None = None,
                         device: str = "cpu") -> list[Path]:
    """Write every density's file into ``out`` (existing files are kept: resumable).

    ``progress(density_index, iteration)`` reports each density's expert iterations.
    """
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(cfg.densities)):
        path = d / f"density-{i}.npz"
        if not path.exists():
            arrays = generate_density(cfg, i, _bind(progress, i), device)
            if cfg.compact:
                arrays = compact(arrays, cfg, i)
            tmp = d / f"density-{i}.tmp.npz"
            np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
            tmp.replace(path)  # a killed run never leaves a half-written density behind
        paths.append(path)
    return paths


def _bind(progress: Callable[[int, int], None] | None,
          index: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda it: progress(index, it)


@dataclass(frozen=True)
class ExpertSet:
    """Instances of one split: ``large_scale [I, N, N]``, ``f_min [I]``, ``samples [I, S, N]``."""

    large_scale: NDArray[np.float64]
    f_min: NDArray[np.float64]
    samples: NDArray[np.float64]
    density: NDArray[np.float64]
    noise_w: float
    pmax_w: float

    def __len__(self) -> int:
        return len(self.f_min)


def load_expert_data(directory: str | Path, split: str) -> ExpertSet:
    """The ``split`` ('train', 'val', 'test') of every density file in ``directory``."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    paths = sorted(Path(directory).rglob("density-*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")]
    if not paths:
        raise InvalidInput(f"no density-*.npz in {str(directory)!r}; run "
                           f"'rrm diffusion data --out {directory}' first")
    parts: list[tuple[NDArray[Any], ...]] = []
    noise = pmax = 0.0
    for p in paths:
        z = np.load(p, allow_pickle=False)
        large = networks_of(z)
        lo, hi = (round(f * len(large)) for f in SPLITS[split])
        keep = (z["network"] >= lo) & (z["network"] < hi)
        rows = z["network"][keep]
        parts.append((large[rows], z["f_min"][keep], samples_of(z)[keep],
                      np.full(int(keep.sum()), float(z["density"]))))
        noise, pmax = float(z["noise_w"]), float(z["pmax_w"])
    large, fmin, samples, density = (np.concatenate(c) for c in zip(*parts, strict=True))
    return ExpertSet(large, fmin, samples, density, noise, pmax)
