"""Evaluation you can trust (issue #13, item 6): 'the first n snapshots of a split' are
the same whatever n is, in rrm data gen, the fine-tuning sets and rrm gfm eval; every
ratio to WMMSE-Best is sign-safe, so a worse policy never reads above 1."""


import json

import numpy as np
import pytest

from rrm.cli import main
from rrm.models.gfm import experiments as ex
from rrm.models.gfm.data import load_entry
from rrm.models.gfm.evaluate import normalised
from rrm.sim.dataset import read_dataset
from rrm.sim.scenarios.catalog import catalog_entry, split_chunk_sizes, split_prefix, split_rng
from rrm.sim.scenarios.d2d import generate_d2d


def test_a_shorter_prefix_is_a_prefix_of_a_longer_one():
    entry = catalog_entry("D16")
    short, long = split_prefix(entry, "test", 7, 0), split_prefix(entry, "test", 40, 0)
    for key in ("gains", "large_scale", "tx_xy", "rx_xy"):
        np.testing.assert_array_equal(getattr(short, key), getattr(long, key)[:7])


def test_chunks_follow_the_whole_split_not_n():
    entry = catalog_entry("D16")  # test split: 5,000 snapshots in chunks of 2,000
    assert split_chunk_sizes(entry, "test", 10) == [2000]
    assert split_chunk_sizes(entry, "test", 4500) == [2000, 2000, 1000]
    assert split_chunk_sizes(entry, "train", 2048) == [2000, 48]  # the fine-tuning pool
    assert split_chunk_sizes(entry, "test", 6001) == [2000, 2000, 2000, 1]  # past the split


def test_the_fine_tuning_pool_keeps_its_bytes():
    entry = catalog_entry("D16")  # the shipped heads were trained on generate_d2d(cfg, 2048)
    pool = generate_d2d(entry.config, 2048, split_rng(entry, "train", 0)).gains
    np.testing.assert_array_equal(load_entry("D16", "train", 2048, 0).gains.numpy(), pool)
    np.testing.assert_array_equal(load_entry("D16", "train", 64, 0).gains.numpy(), pool[:64])


def test_eval_and_data_gen_read_the_same_first_n_test_snapshots(tmp_path, capsys):
    for n in (5, 12):
        assert main(["data", "gen", "--scenario", "d2d", "--catalog", "D16", "--split", "test",
                     "--n", str(n), "--out", str(tmp_path / f"t{n}.npz")]) == 0
    capsys.readouterr()
    five, _ = read_dataset(tmp_path / "t5.npz")
    twelve, _ = read_dataset(tmp_path / "t12.npz")
    np.testing.assert_array_equal(five["gains"], twelve["gains"][:5])
    evaluated = ex.test_state("D16", 12).gains  # what rrm gfm eval --catalog D16 --n 12 scores
    np.testing.assert_array_equal(twelve["gains"], evaluated.astype(np.float32))
    np.testing.assert_array_equal(ex.test_state("D16", 5).gains, evaluated[:5])


def test_eval_pf_never_rates_a_worse_policy_above_one(capsys):
    code = main(["gfm", "eval", "--catalog", "D18", "--objective", "pf", "--n", "3", "--json"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    rows = {r["policy"]: r for r in json.loads(out[-1])}
    best = rows["wmmse-best"]["utility"]
    assert best < 0  # pf utilities here are negative: U / U_ref would invert the order
    assert rows["wmmse-best"]["ratio"] == pytest.approx(1.0)
    for r in rows.values():
        assert (r["ratio"] <= 1.0) == (r["utility"] <= best + 1e-12)
        assert r["ratio"] == pytest.approx(np.exp((r["utility"] - best) / 50))
    assert "sign-safe" in out[0]


@pytest.mark.parametrize("utility, reference, objective, expected", [
    (-30.0, -20.0, "pf", np.exp(-10.0 / 20)),  # worse, both negative: below 1
    (-10.0, -20.0, "pf", np.exp(10.0 / 20)),  # better: above 1
    (-3.0, -2.0, "qos", 0.5),  # 1 + (U - U_ref) / |U_ref|
    (90.0, 100.0, "sum", 0.9),  # the paper's U / U_ref when U_ref > 0
])
def test_normalised_ratio_is_ordered_like_the_utility(utility, reference, objective, expected):
    assert normalised(utility, reference, objective, 20) == pytest.approx(expected)
