"""The utility pre-trained checkpoints we ship load, match their recorded hash and decide."""

import hashlib
import json

import numpy as np
import pytest

import rrm.models.gfm.experiments as ex
from rrm.core.objectives import get_objective
from rrm.models.gfm.policy import CHECKPOINTS, GFMPolicy
from rrm.models.gfm.store import load_power_model

WORLD = ["gfm-small-world", "gfm-small-world-switch", "gfm-small-d18-64shot",
         "gfm-small-d18-64shot-scratch"]


@pytest.mark.parametrize("name", WORLD)
def test_shipped_world_checkpoints_match_their_metadata(name):
    directory = CHECKPOINTS / name
    meta = json.loads((directory / "metadata.json").read_text())
    digest = hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
    assert meta["sha256"] == digest  # the weights are the ones the recorded command made
    assert meta["command"].startswith("rrm gfm ") and meta["recipe"]["how"]
    load_power_model(directory)  # strict state-dict load


def test_the_switchable_world_model_answers_each_prompt_within_pmax():
    state = ex.test_state("D18", 4)
    policy = GFMPolicy(CHECKPOINTS / "gfm-small-world-switch")
    powers = {}
    for name in ("sum", "pf", "qos"):
        p = np.asarray(policy.decide(state, get_objective(name)).power_w)  # [n, K]
        assert p.shape == state.gains.shape[:2]
        assert np.all(p >= 0) and np.all(p <= np.max(state.pmax_w) * (1 + 1e-6))
        powers[name] = p
    assert not np.allclose(powers["sum"], powers["qos"])  # the prompt changes the answer
