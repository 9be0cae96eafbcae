"""Shipped diffusion checkpoints: which one serves which network size, and that they load."""

import numpy as np
import pytest
import torch

from rrm.core.types import InterferenceState
from rrm.models.diffusion.check import draw_networks
from rrm.models.diffusion.features import model_inputs
from rrm.models.diffusion.model import (
    LARGE_PAIRS,
    SHIPPED,
    SHIPPED_LARGE,
    load_diffusion,
    shipped_for,
)
from rrm.models.diffusion.schedule import DdimConfig
from rrm.models.policy import make_policy


def test_shipped_checkpoint_is_chosen_by_network_size():
    assert shipped_for(None) == SHIPPED and shipped_for(20) == SHIPPED
    assert shipped_for(LARGE_PAIRS - 1) == SHIPPED
    assert shipped_for(LARGE_PAIRS) == SHIPPED_LARGE and shipped_for(1000) == SHIPPED_LARGE


@pytest.mark.parametrize(("pairs", "trained_at"), [(None, 20), (20, 20), (400, 400)])
def test_shipped_checkpoints_load_and_record_their_training_size(pairs, trained_at):
    _, meta = load_diffusion(pairs=pairs)
    assert meta["data"]["num_pairs"] == trained_at


@pytest.mark.parametrize("pairs", [12, LARGE_PAIRS])
def test_default_diffusion_policy_samples_the_shipped_model_for_the_size(pairs):
    nets = draw_networks(pairs, 1, seed=0)
    policy = make_policy("diffusion", ddim_steps=2, seed=3)
    try:
        state = InterferenceState(nets.large_scale[0], nets.noise_w, nets.pmax_w)
        got = policy.decide(state, None).power_w / nets.pmax_w
    finally:
        policy.close()
    model = load_diffusion(pairs=pairs)[0].with_ddim(DdimConfig(2, 0.2))
    gso, u = model_inputs(nets.large_scale, nets.pmax_w / nets.noise_w,
                          np.full((1, pairs), 0.6))
    want = model.sample_inputs(gso, u, 1, torch.Generator().manual_seed(3))[0, 0].double()
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-9)
