"""The D1-D20 catalog: names resolve to the paper's settings; splits are seeded and disjoint."""

import numpy as np
import pytest

from rrm.core.errors import InvalidInput, UnknownName
from rrm.sim.scenarios.catalog import CATALOG, CATALOG_NAMES, catalog_entry, split_rng
from rrm.sim.scenarios.d2d import generate_d2d

PRETRAIN = [(20, 2, 65), (20, 10, 50), (20, 30, 70), (35, 2, 65), (35, 10, 50), (35, 30, 70),
            (50, 2, 65), (50, 10, 50), (50, 30, 70), (65, 2, 65), (65, 10, 50), (65, 30, 70),
            (80, 2, 65), (80, 10, 50), (80, 30, 70)]  # K outer, range inner (our numbering)


def settings(name):
    c = catalog_entry(name).config
    return (c.num_links, c.d_min_m, c.d_max_m)


def test_d1_to_d15_cross_densities_and_ranges_in_the_documented_order():
    assert [settings(f"D{i}") for i in range(1, 16)] == PRETRAIN
    for i in range(1, 16):
        e = catalog_entry(f"D{i}")
        assert e.pretraining and e.sizes == {"train": 100_000, "val": 10_000, "test": 10_000}
        assert sum(e.sizes.values()) == 120_000


def test_d16_to_d20_are_the_finetuning_sets_with_1_to_100_m_links():
    assert [settings(f"D{i}") for i in range(16, 21)] == [(k, 1, 100) for k in (20, 35, 50, 65, 80)]
    e = catalog_entry("D18")
    assert not e.pretraining and e.sizes == {"train": 2048, "val": 512, "test": 5000}
    assert e.config.shadowing_db == 7.0 and e.config.pmax_w == pytest.approx(0.01)


def test_names_are_case_insensitive_and_complete():
    assert CATALOG_NAMES == tuple(f"D{i}" for i in range(1, 21)) and len(CATALOG) == 20
    assert catalog_entry(" d18 ") is catalog_entry("D18")


@pytest.mark.parametrize("name", ["D0", "D21", "X18", "", "18"])
def test_unknown_names_raise_with_the_valid_names(name):
    with pytest.raises(UnknownName, match="valid: D1-D20") as err:
        catalog_entry(name)
    assert "\n" not in str(err.value)


def test_splits_are_reproducible_and_disjoint():
    e = catalog_entry("D16")
    data = {s: generate_d2d(e.config, 8, split_rng(e, s, 7)).gains.tobytes()
            for s in ("train", "val", "test")}
    assert len(set(data.values())) == 3
    again = generate_d2d(e.config, 8, split_rng(e, "val", 7)).gains.tobytes()
    assert again == data["val"]
    other_seed = generate_d2d(e.config, 8, split_rng(e, "val", 8)).gains.tobytes()
    assert other_seed != data["val"]


def test_entries_with_the_same_settings_but_other_names_draw_other_streams():
    draws = {name: split_rng(catalog_entry(name), "train", 0).random(4).tobytes()
             for name in CATALOG_NAMES}
    assert len(set(draws.values())) == 20


def test_bad_split_or_seed_is_refused():
    e = catalog_entry("D1")
    with pytest.raises(UnknownName, match="valid: train, val, test"):
        split_rng(e, "dev", 0)
    with pytest.raises(InvalidInput, match="non-negative"):
        split_rng(e, "train", -1)
    assert isinstance(split_rng(e, "train", np.int64(3)), np.random.Generator)
