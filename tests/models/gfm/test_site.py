"""Site adaptation: ``rrm gfm finetune --from-trace`` on a recorded xApp trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rrm.cli import main
from rrm.models.gfm.site import trace_sets
from rrm.models.policy import make_policy
from tests.xapp.recorded import record


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    return record(tmp_path_factory.mktemp("site") / "site.rrmtrace", slots=16, k=8)


def test_holdout_is_the_latest_slots_of_each_node(trace):
    train, held = trace_sets([str(trace)], 0.25)
    assert [len(s.gains) for s in train] == [12] and [len(s.gains) for s in held] == [4]
    from rrm.sim.replay import load_recorded_slots

    recorded = [s.indication.state.gains for s in load_recorded_slots(trace)["n0"]]
    np.testing.assert_array_equal(held[0].gains.numpy(), np.stack(recorded[12:]))
    assert train[0].noise_w > 0 and train[0].pmax_w > 0


def test_finetune_from_trace_writes_a_loadable_checkpoint_with_held_out_utilities(
        trace, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["gfm", "finetune", "--from-trace", str(trace), "--warmup-epochs", "1",
                 "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
    assert "site fine-tuned" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    m = meta["metrics"]
    assert m["shots"] == 12 and m["held_out"] == 4
    assert m["held_out_utility"] > 0 and m["held_out_utility_wmmse"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["from_trace"] == [str(trace)]
    policy = make_policy("gfm", checkpoint=str(out))  # sha256-checked load
    assert policy.version == meta["sha256"][:12]


@pytest.mark.parametrize("argv, message", [
    (["--holdout", "1.5"], "--holdout must lie in (0, 1)"),
    (["--objective", "switch"], "adapts one objective"),
])
def test_bad_site_finetune_input_is_one_line(trace, tmp_path, capsys, argv, message):
    assert main(["gfm", "finetune", "--from-trace", str(trace), *argv,
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_trace_is_one_line(tmp_path, capsys):
    assert main(["gfm", "finetune", "--from-trace", str(tmp_path / "none"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
