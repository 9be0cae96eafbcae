"""Data-set files: round trips in both formats, same bytes per seed, clear refusals."""

import numpy as np
import pytest

from sim.dataset import read_dataset, write_dataset
from sim.errors import InvalidInput, UnknownName


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_round_trip_keeps_arrays_and_metadata(tmp_path, suffix):
    done = []
    meta = write_dataset(tmp_path / f"d{suffix}", "d2d", 30, seed=4, catalog="D16",
                         split="val", progress=done.append)
    arrays, read_meta = read_dataset(tmp_path / f"d{suffix}")
    assert sum(done) == 30
    assert arrays["gains"].shape == (30, 20, 20) and arrays["tx_xy"].shape == (30, 20, 2)
    assert read_meta == meta and read_meta["params"]["num_links"] == 20
    assert read_meta["params"]["pmax_w"] == pytest.approx(0.01)


def test_formats_hold_identical_arrays_for_the_same_seed(tmp_path):
    write_dataset(tmp_path / "a.npz", "d2d", 20, seed=1, num_links=5)
    write_dataset(tmp_path / "a.h5", "d2d", 20, seed=1, num_links=5)
    a, _ = read_dataset(tmp_path / "a.npz")
    b, _ = read_dataset(tmp_path / "a.h5")
    assert a["gains"].tobytes() == b["gains"].tobytes()


def test_ergodic_sets_hold_large_scale_states(tmp_path):
    write_dataset(tmp_path / "e.npz", "ergodic", 2, seed=0, num_pairs=30, side_m=1500.0)
    arrays, meta = read_dataset(tmp_path / "e.npz")
    assert arrays["large_scale"].shape == (2, 30, 30) and meta["params"]["f_min"] == 0.6


def test_bad_requests_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match=".npz or .h5"):
        write_dataset(tmp_path / "x.csv", "d2d", 2, seed=0)
    with pytest.raises(UnknownName, match="valid: D1-D20"):
        write_dataset(tmp_path / "x.npz", "d2d", 2, seed=0, catalog="D99")
    with pytest.raises(InvalidInput, match="at least 1"):
        write_dataset(tmp_path / "x.npz", "d2d", 0, seed=0)
    foreign = tmp_path / "f.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(InvalidInput, match="not an rrm data set"):
        read_dataset(foreign)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_dataset(tmp_path / "missing.h5")


def test_cellfree_sets_hold_complex_channels(tmp_path):
    write_dataset(tmp_path / "c.h5", "cellfree", 3, seed=0, num_ues=5)
    arrays, meta = read_dataset(tmp_path / "c.h5")
    assert arrays["h"].shape == (3, 8, 5, 2) and np.iscomplexobj(arrays["h"])
    assert meta["params"]["fronthaul_mbps"] == 60.0
