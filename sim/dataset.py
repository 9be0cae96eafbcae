"""Data-set files: numpy ``.npz`` or HDF5 ``.h5`` (by extension). See docs/data-format.md.

Every file holds the scenario's arrays (d2d: ``gains [n,K,K]`` float32,
``tx_xy``/``rx_xy [n,K,2]`` metres) and ``meta_json``: a JSON object with
``format_version``, ``scenario``, ``catalog``, ``split``, ``seed``, ``n`` and
the resolved scenario ``params`` (noise_w, pmax_w, ...). Generation runs in
fixed chunks from one seeded generator, so the same arguments give the same
bytes whatever the format; ``.h5`` files are written chunk by chunk and
never need the whole set in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sim.errors import InvalidInput
from sim.scenarios import generate_arrays
from sim.scenarios.catalog import catalog_entry, split_rng

FORMAT_VERSION = 1
CHUNK = 2_000
FORMATS = (".npz", ".h5")


def _plan(scenario: str, seed: int, catalog: str | None, split: str,
          overrides: dict[str, Any]) -> tuple[np.random.Generator, dict[str, Any]]:
    if catalog is None:
        return np.random.default_rng(np.random.SeedSequence(seed)), overrides
    if scenario != "d2d":
        raise InvalidInput(f"the D1-D20 catalog is a d2d catalog, not {scenario!r}")
    entry = catalog_entry(catalog)
    cfg = entry.config
    params = {"num_links": cfg.num_links, "d_min_m": cfg.d_min_m, "d_max_m": cfg.d_max_m}
    return split_rng(entry, split, seed), {**params, **overrides}


def iter_chunks(scenario: str, n: int, seed: int, catalog: str | None = None,
                split: str = "train", **overrides: Any):  # noqa: ANN201 - a generator
    """Yield (arrays, params) for consecutive chunks of at most ``CHUNK`` snapshots."""
    if n < 1:
        raise InvalidInput(f"--n must be at least 1, got {n}")
    rng, params = _plan(scenario, seed, catalog, split, overrides)
    for lo in range(0, n, CHUNK):
        yield generate_arrays(scenario, min(CHUNK, n - lo), rng, **params)


def write_dataset(path: str | Path, scenario: str, n: int, seed: int, catalog: str | None = None,
                  split: str = "train", progress: Callable[[int], None] | None = None,
                  **overrides: Any) -> dict[str, Any]:
    """Generate and write a data set; returns its metadata."""
    out = Path(path)
    if out.suffix not in FORMATS:
        raise InvalidInput(f"output must end in .npz or .h5, got {str(out)!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"format_version": FORMAT_VERSION, "scenario": scenario,
                            "catalog": catalog, "split": split, "seed": seed, "n": n}
    chunks = iter_chunks(scenario, n, seed, catalog, split, **overrides)
    tmp = out.with_name(out.name + ".partial")
    try:
        if out.suffix == ".h5":
            _write_h5(tmp, chunks, meta, progress)
        else:
            _write_npz(tmp, chunks, meta, progress)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written set behind
        raise
    tmp.replace(out)
    return meta


def _write_npz(path: Path, chunks: Any, meta: dict[str, Any],
               progress: Callable[[int], None] | None) -> None:
    parts: dict[str, list[np.ndarray]] = {}
    for arrays, params in chunks:
        meta["params"] = params
        for key, arr in arrays.items():
            parts.setdefault(key, []).append(arr)
        if progress:
            progress(len(next(iter(arrays.values()))))
    full = {k: np.concatenate(v) for k, v in parts.items()}
    with open(path, "wb") as fh:
        np.savez(fh, meta_json=np.array(json.dumps(meta)), **full)  # type: ignore[arg-type]


def _write_h5(path: Path, chunks: Any, meta: dict[str, Any],
              progress: Callable[[int], None] | None) -> None:
    n = meta["n"]
    with h5py.File(path, "w") as f:
        done = 0
        for arrays, params in chunks:
            meta["params"] = params
            m = len(next(iter(arrays.values())))
            for key, arr in arrays.items():
                if key not in f:
                    f.create_dataset(key, shape=(n, *arr.shape[1:]), dtype=arr.dtype,
                                     chunks=(min(256, n), *arr.shape[1:]))
                f[key][done : done + m] = arr
            done += m
            if progress:
                progress(m)
        f.attrs["meta_json"] = json.dumps(meta)


def read_dataset(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load every array and the metadata; InvalidInput on a missing or foreign file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"data set {str(p)!r} does not exist")
    try:
        if p.suffix == ".h5":
            with h5py.File(p, "r") as f:
                meta = json.loads(f.attrs["meta_json"])
                arrays = {k: f[k][()] for k in f.keys()}
        else:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta_json"]))
                arrays = {k: z[k] for k in z.files if k != "meta_json"}
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        raise InvalidInput(f"{str(p)!r} is not an rrm data set ({type(err).__name__})") from None
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise InvalidInput(f"{str(p)!r} has format version {meta['format_version']}; "
                           f"this rrm reads <= {FORMAT_VERSION}")
    return arrays, meta
