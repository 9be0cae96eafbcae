"""Data-set files: numpy ``.npz`` or HDF5 ``.h5`` (by extension). See docs/data-format.md.

A file holds the scenario's arrays, sample axis first (d2d: ``gains
[n,K,K]`` float32, ``tx_xy``/``rx_xy [n,K,2]`` metres) and ``meta_json``, a
JSON object: ``format_version``, ``scenario``, ``catalog``, ``split``,
``seed``, ``n``, the resolved scenario ``params`` (``noise_w``, ``pmax_w``
in watts, ...) and ``arrays`` (shape and dtype of each array).

Generation (:func:`iter_chunks`, from :mod:`rrm.sim.scenarios`) is kept apart
from writing: the writers consume chunks and call ``progress(m)`` after
each. Both formats are written chunk by chunk and never hold the whole set
in memory (``.npz``: through temporary ``.npy`` memory maps zipped at the
end, ``.h5``: chunked datasets). The same arguments give the same array
bytes in either format, and the same file bytes for the same format.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rrm.core.errors import InvalidInput
from rrm.sim.scenarios import Arrays, ArraysAndParams, get_scenario
from rrm.sim.scenarios.catalog import SPLITS, catalog_entry, split_chunk_sizes, split_rng

FORMAT_VERSION = 1
FORMATS = (".npz", ".h5")
H5_CHUNK_ROWS = 256  # snapshots per HDF5 chunk
Progress = Callable[[int], None] | None


def dataset_rng(scenario: str, seed: int, catalog: str | None = None,
                split: str = "train") -> np.random.Generator:
    """The generator a data set draws from.

    Catalog sets use :func:`rrm.sim.scenarios.catalog.split_rng`; other sets
    ``SeedSequence(seed, spawn_key=(0, crc32(scenario), split))``, so their
    splits differ too and never coincide with a catalog stream.
    """
    if catalog is not None:
        return split_rng(catalog_entry(catalog), split, seed)
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
    key = (0, zlib.crc32(scenario.encode()), SPLITS.index(split))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def iter_chunks(scenario: str, n: int, seed: int, catalog: str | None = None,
                split: str = "train", **overrides: Any) -> Iterator[ArraysAndParams]:
    """Generate a data set's content as consecutive ``(arrays, params)`` chunks."""
    spec = get_scenario(scenario)
    if n < 1:
        raise InvalidInput(f"--n must be at least 1, got {n}")
    if catalog is not None:
        if scenario != "d2d":
            raise InvalidInput(f"the D1-D20 catalog is a d2d catalog, not {scenario!r}")
        entry = catalog_entry(catalog)
        cfg = entry.config
        overrides = {"num_links": cfg.num_links, "d_min_m": cfg.d_min_m,
                     "d_max_m": cfg.d_max_m, **overrides}
        # the first n of the whole split, whatever n is (rrm.sim.scenarios.catalog)
        plan = sum(split_chunk_sizes(entry, split, n, int(overrides["num_links"])))
        chunks = spec.chunks(plan, dataset_rng(scenario, seed, catalog, split), overrides)
        return _first(chunks, n)
    return spec.chunks(n, dataset_rng(scenario, seed, catalog, split), overrides)


def _first(chunks: Iterator[ArraysAndParams], n: int) -> Iterator[ArraysAndParams]:
    """The chunks' first ``n`` samples (the last chunk cut), drawing no further chunk."""
    left = n
    for arrays, params in chunks:
        if left <= 0:
            return
        m = len(next(iter(arrays.values())))
        yield ({k: v[:left] for k, v in arrays.items()} if m > left else arrays), params
        left -= m


def write_dataset(path: str | Path, scenario: str, n: int, seed: int, catalog: str | None = None,
                  split: str = "train", progress: Progress = None,
                  **overrides: Any) -> dict[str, Any]:
    """Generate ``n`` samples of ``scenario`` and write them to ``path`` (.npz or .h5).

    Args:
        path: output file; its extension picks the format. Written to
            ``path.partial`` first and renamed when complete.
        scenario: ``d2d``, ``cellfree`` or ``ergodic``.
        n: snapshots (networks for ``ergodic``), >= 1.
        seed: base seed (non-negative integer).
        catalog: d2d catalog entry (``D1``..``D20``): sets K and the link range.
        split: ``train``, ``val`` or ``test``; each has its own stream.
        progress: called with the number of samples written after each chunk.
        **overrides: scenario config fields (e.g. ``num_links=20``).

    Returns:
        The metadata stored in the file.
    """
    out = Path(path)
    if out.suffix not in FORMATS:
        raise InvalidInput(f"output must end in .npz or .h5, got {str(out)!r}")
    chunks = iter_chunks(scenario, n, seed, catalog, split, **overrides)  # validates first
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "scenario": scenario,
        "catalog": catalog_entry(catalog).name if catalog else None,
        "split": split, "seed": int(seed), "n": int(n)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        writer = _write_h5 if out.suffix == ".h5" else _write_npz
        writer(tmp, _tracked(chunks, meta, progress), meta)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)  # never leave a half-written set behind
    return meta


def _tracked(chunks: Iterator[ArraysAndParams], meta: dict[str, Any],
             progress: Progress) -> Iterator[Arrays]:
    """Chunks' arrays; records params and array layout in ``meta``, reports progress."""
    for arrays, params in chunks:
        meta["params"] = params
        meta["arrays"] = {k: {"shape": [meta["n"], *a.shape[1:]], "dtype": a.dtype.str}
                          for k, a in arrays.items()}
        yield arrays
        if progress is not None:
            progress(len(next(iter(arrays.values()))))


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _write_npz(path: Path, chunks: Iterator[Arrays], meta: dict[str, Any]) -> None:
    """An uncompressed .npz, as ``np.savez`` writes it, filled through .npy memory maps."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".rrm-npz-") as tmp:
        maps: dict[str, np.memmap] = {}
        done = 0
        for arrays in chunks:
            for key, arr in arrays.items():
                if key not in maps:
                    maps[key] = np.lib.format.open_memmap(
                        Path(tmp) / f"{key}.npy", mode="w+", dtype=arr.dtype,
                        shape=(meta["n"], *arr.shape[1:]))
                maps[key][done : done + len(arr)] = arr
            done += len(next(iter(arrays.values())))
        for mm in maps.values():
            mm.flush()
        keys = list(maps)
        maps.clear()  # close the maps before zipping their files
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open(_zip_entry("meta_json"), "w") as dst:
                dst.write(_npy_bytes(np.array(json.dumps(meta))))
            for key in keys:
                with zf.open(_zip_entry(key), "w", force_zip64=True) as dst, \
                        open(Path(tmp) / f"{key}.npy", "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)


def _zip_entry(key: str) -> zipfile.ZipInfo:
    """A stored entry with a fixed timestamp: the same content gives the same file bytes."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    return info


def _write_h5(path: Path, chunks: Iterator[Arrays], meta: dict[str, Any]) -> None:
    """HDF5: one chunked, checksummed (Fletcher-32) dataset per array, filled chunk by chunk."""
    n = meta["n"]
    import h5py  # files only: the simulator and the xApp never need it

    with h5py.File(path, "w", track_order=True) as f:
        done = 0
        for arrays in chunks:
            for key, arr in arrays.items():
                if key not in f:
                    f.create_dataset(key, shape=(n, *arr.shape[1:]), dtype=arr.dtype,
                                     chunks=(min(H5_CHUNK_ROWS, n), *arr.shape[1:]),
                                     fletcher32=True, track_times=False)
                f[key][done : done + len(arr)] = arr
            done += len(next(iter(arrays.values())))
        f.attrs["meta_json"] = json.dumps(meta)


_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """A data set's metadata only (cheap: no array is loaded); InvalidInput on a bad file."""
    p = _existing(path)
    try:
        if p.suffix == ".h5":
            import h5py

            with h5py.File(p, "r") as f:
                meta = json.loads(f.attrs["meta_json"])
        else:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta_json"][()]))
    except _READ_ERRORS as err:
        raise InvalidInput(f"{str(p)!r} is not an rrm data set ({type(err).__name__})") from None
    return _check_meta(p, meta)


def read_dataset(path: str | Path, rows: slice | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and validate a data set: ``(arrays, metadata)``.

    Args:
        path: a file written by :func:`write_dataset`.
        rows: load only these samples (``.h5`` reads only them from disk;
            ``.npz`` loads each array, then slices).

    Raises:
        InvalidInput: one line, on a missing, foreign, corrupted or newer file.
    """
    meta = read_metadata(path)
    p = Path(path)
    pick = rows if rows is not None else slice(None)
    try:
        if p.suffix == ".h5":
            import h5py

            with h5py.File(p, "r") as f:
                arrays = {k: f[k][pick] for k in f.keys()}
        else:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k][pick] for k in z.files if k != "meta_json"}
    except _READ_ERRORS as err:
        raise InvalidInput(f"{str(p)!r} is corrupted ({type(err).__name__})") from None
    _check_arrays(p, meta, arrays, full=rows is None)
    return arrays, meta


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"data set {str(p)!r} does not exist")
    if p.suffix not in FORMATS:
        raise InvalidInput(f"{str(p)!r}: data sets end in .npz or .h5")
    return p


def _check_meta(p: Path, meta: Any) -> dict[str, Any]:
    """The metadata's keys and types; InvalidInput names the first problem."""
    if not isinstance(meta, dict):
        raise InvalidInput(f"{str(p)!r} is not an rrm data set (meta_json is not an object)")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise InvalidInput(f"{str(p)!r} is not an rrm data set (no format_version)")
    if version > FORMAT_VERSION:
        raise InvalidInput(f"{str(p)!r} has format version {version}; "
                           f"this rrm reads <= {FORMAT_VERSION}")
    for key, kind in (("scenario", str), ("n", int), ("params", dict), ("arrays", dict)):
        if not isinstance(meta.get(key), kind):
            raise InvalidInput(f"{str(p)!r}: metadata key {key!r} missing or not a "
                               f"{kind.__name__}")
    return meta


def _check_arrays(p: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                  full: bool) -> None:
    """Every array the scenario requires is there, with the shape and dtype meta states."""
    required = get_scenario(meta["scenario"]).arrays
    missing = [k for k in required if k not in arrays]
    if missing:
        raise InvalidInput(f"{str(p)!r}: {meta['scenario']} data set lacks array {missing[0]!r}")
    for key, arr in arrays.items():
        want = meta["arrays"].get(key)
        if not isinstance(want, dict) or not isinstance(want.get("shape"), list):
            raise InvalidInput(f"{str(p)!r}: array {key!r} is not described in the metadata")
        shape, want_shape = list(arr.shape), want["shape"]
        ok_shape = shape == want_shape if full else shape[1:] == want_shape[1:]
        if not ok_shape or arr.dtype.str != want.get("dtype"):
            raise InvalidInput(f"{str(p)!r}: array {key!r} is {arr.dtype.str} {shape}, "
                               f"the metadata says {want.get('dtype')} {want_shape}")
