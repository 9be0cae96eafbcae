"""Data-set files: round trips in both formats, reproducible bytes, clear refusals."""

import json
import zipfile

import h5py
import numpy as np
import pytest

from rrm.core.errors import ConfigError, InvalidInput, UnknownName
from rrm.sim.dataset import dataset_rng, read_dataset, read_metadata, write_dataset
from rrm.sim.scenarios import d2d
from rrm.sim.scenarios.catalog import catalog_entry, split_prefix
from rrm.sim.scenarios.d2d import D2DConfig, generate_d2d


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_round_trip_keeps_arrays_and_metadata(tmp_path, suffix):
    done = []
    meta = write_dataset(tmp_path / f"d{suffix}", "d2d", 30, seed=4, catalog="d16",
                         split="val", progress=done.append)
    arrays, read_meta = read_dataset(tmp_path / f"d{suffix}")
    assert sum(done) == 30 and read_meta == meta == read_metadata(tmp_path / f"d{suffix}")
    assert (meta["scenario"], meta["catalog"], meta["split"], meta["seed"]) == ("d2d", "D16",
                                                                                "val", 4)
    assert meta["format_version"] == 1 and meta["params"]["num_links"] == 20
    assert meta["params"]["pmax_w"] == pytest.approx(0.01) and meta["params"]["noise_w"] > 0
    entry = catalog_entry("D16")
    direct = split_prefix(entry, "val", 30, 4, dtype=np.float32)  # first 30 of the split
    for key in ("gains", "tx_xy", "rx_xy"):
        assert arrays[key].tobytes() == getattr(direct, key).tobytes()


def test_same_arguments_same_file_bytes_and_formats_agree(tmp_path):
    for name in ("a", "b"):
        for suffix in (".npz", ".h5"):
            write_dataset(tmp_path / f"{name}{suffix}", "d2d", 20, seed=1, num_links=5)
    for suffix in (".npz", ".h5"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    a, _ = read_dataset(tmp_path / "a.npz")
    b, _ = read_dataset(tmp_path / "a.h5")
    assert all(a[k].tobytes() == b[k].tobytes() for k in ("gains", "tx_xy", "rx_xy"))
    assert np.load(tmp_path / "a.npz")["gains"].shape == (20, 5, 5)  # plain numpy reads it


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_sets_are_written_chunk_by_chunk(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(d2d, "CHUNK", 7)
    done = []
    write_dataset(tmp_path / f"c{suffix}", "d2d", 20, seed=2, progress=done.append,
                  num_links=6)
    arrays, _ = read_dataset(tmp_path / f"c{suffix}")
    whole = generate_d2d(D2DConfig(num_links=6), 20, dataset_rng("d2d", 2), dtype=np.float32)
    assert done == [7, 7, 6] and arrays["gains"].tobytes() == whole.gains.tobytes()


def test_splits_and_seeds_of_uncatalogued_sets_differ(tmp_path):
    gains = {}
    for split, seed in (("train", 0), ("test", 0), ("train", 1)):
        write_dataset(tmp_path / "s.npz", "d2d", 3, seed=seed, split=split, num_links=4)
        gains[split, seed] = read_dataset(tmp_path / "s.npz")[0]["gains"].tobytes()
    assert len(set(gains.values())) == 3


def test_rows_reads_part_of_a_set(tmp_path):
    for suffix in (".npz", ".h5"):
        write_dataset(tmp_path / f"r{suffix}", "d2d", 10, seed=0, num_links=3)
        part, _ = read_dataset(tmp_path / f"r{suffix}", rows=slice(2, 5))
        full, _ = read_dataset(tmp_path / f"r{suffix}")
        np.testing.assert_array_equal(part["gains"], full["gains"][2:5])


def test_ergodic_sets_hold_large_scale_states(tmp_path):
    write_dataset(tmp_path / "e.h5", "ergodic", 2, seed=0, num_pairs=30, side_m=1500.0)
    arrays, meta = read_dataset(tmp_path / "e.h5")
    assert arrays["large_scale"].shape == (2, 30, 30) and arrays["tx_xy"].shape == (2, 30, 2)
    assert meta["params"]["f_min"] == 0.6 and meta["params"]["pair_distance_m"] == [20.0, 100.0]


def test_cellfree_sets_hold_complex_channels(tmp_path):
    write_dataset(tmp_path / "c.npz", "cellfree", 3, seed=0, num_ues=5)
    arrays, meta = read_dataset(tmp_path / "c.npz")
    assert arrays["h"].shape[:3] == (3, 8, 5) and np.iscomplexobj(arrays["h"])
    assert meta["params"]["fronthaul_mbps"] == 60.0 and meta["params"]["noise_w"] > 0


def test_bad_requests_are_refused_and_leave_no_file(tmp_path):
    with pytest.raises(InvalidInput, match=".npz or .h5"):
        write_dataset(tmp_path / "x.csv", "d2d", 2, seed=0)
    with pytest.raises(UnknownName, match="valid: D1-D20"):
        write_dataset(tmp_path / "x.npz", "d2d", 2, seed=0, catalog="D99")
    with pytest.raises(UnknownName, match="unknown scenario 'd3d'"):
        write_dataset(tmp_path / "x.npz", "d3d", 2, seed=0)
    with pytest.raises(InvalidInput, match="d2d catalog"):
        write_dataset(tmp_path / "x.npz", "ergodic", 2, seed=0, catalog="D18")
    with pytest.raises(InvalidInput, match="at least 1"):
        write_dataset(tmp_path / "x.npz", "d2d", 0, seed=0)
    with pytest.raises(InvalidInput, match="non-negative"):
        write_dataset(tmp_path / "x.npz", "d2d", 2, seed=-3)
    with pytest.raises(ConfigError, match="unknown d2d parameter"):
        write_dataset(tmp_path / "x.npz", "d2d", 2, seed=0, radius=3)

    def interrupted(m):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "x.h5", "d2d", 2, seed=0, progress=interrupted, num_links=3)
    assert list(tmp_path.iterdir()) == []


def _written(tmp_path, suffix):
    path = tmp_path / f"ok{suffix}"
    write_dataset(path, "d2d", 4, seed=0, num_links=3)
    return path


def _rewrite_npz(path, drop=(), **replace):
    with np.load(path) as z:
        content = {k: z[k] for k in z.files if k not in drop}
    content.update(replace)
    np.savez(path, **content)


@pytest.mark.parametrize("spoil, message", [
    (lambda p: p.write_bytes(b"hello"), "not an rrm data set"),
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "not an rrm data set"),
    (lambda p: np.savez(p, x=np.zeros(3)), "not an rrm data set"),
    (lambda p: _rewrite_npz(p, meta_json=np.array("[1, 2]")), "not an object"),
    (lambda p: _rewrite_npz(p, drop=("rx_xy",)), "lacks array 'rx_xy'"),
    (lambda p: _rewrite_npz(p, gains=np.zeros((4, 3, 2), np.float32)), "array 'gains'"),
    (lambda p: _rewrite_npz(p, meta_json=np.array(json.dumps(
        {"format_version": 9, "scenario": "d2d", "n": 4, "params": {}, "arrays": {}}))),
     "format version 9"),
])
def test_foreign_or_damaged_npz_files_are_refused(tmp_path, spoil, message):
    path = _written(tmp_path, ".npz")
    spoil(path)
    with pytest.raises(InvalidInput, match=message) as err:
        read_dataset(path)
    assert "\n" not in str(err.value)


def _gains_offset(path):
    """A byte inside the stored gains array."""
    if path.suffix == ".npz":
        with zipfile.ZipFile(path) as zf:
            return zf.getinfo("gains.npy").header_offset + 200  # past both headers
    with h5py.File(path) as f:
        return f["gains"].id.get_chunk_info(0).byte_offset + 20


def test_flipped_bytes_inside_an_array_are_detected(tmp_path):
    for suffix in (".npz", ".h5"):
        path = _written(tmp_path, suffix)
        raw = bytearray(path.read_bytes())
        raw[_gains_offset(path)] ^= 0xFF
        path.write_bytes(bytes(raw))
        with pytest.raises(InvalidInput, match="corrupted|not an rrm data set"):
            read_dataset(path)


def test_missing_and_foreign_h5_files_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        read_dataset(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(InvalidInput, match="not an rrm data set"):
        read_dataset(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["gains"] = np.zeros((2, 3, 3))
    with pytest.raises(InvalidInput, match="not an rrm data set"):
        read_dataset(tmp_path / "other.h5")
