"""rrm data gen: the data set contract and one-line refusals with exit code 2."""

import pytest

from rrm.cli import main
from rrm.sim.dataset import read_dataset


def test_data_gen_writes_the_contract_arrays(tmp_path, capsys):
    out = tmp_path / "d18.npz"
    assert main(["data", "gen", "--scenario", "d2d", "--catalog", "D18", "--n", "12",
                 "--seed", "3", "--out", str(out)]) == 0
    arrays, meta = read_dataset(out)
    assert arrays["gains"].shape == (12, 50, 50) and arrays["rx_xy"].shape == (12, 50, 2)
    assert meta["catalog"] == "D18" and meta["params"]["noise_w"] > 0


@pytest.mark.parametrize("args, message", [
    (["--catalog", "D42", "--n", "2"], "unknown catalog entry"),
    (["--n", "0"], "at least 1"),
    (["--n", "2", "--k", "0"], "--k must be at least 1"),
    ([], "--n is required"),
])
def test_data_gen_refuses_bad_requests(tmp_path, capsys, args, message):
    code = main(["data", "gen", "--scenario", "d2d", "--out", str(tmp_path / "x.npz"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
