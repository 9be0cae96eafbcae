"""The gfm policy's batched pass with shift scores: the same powers as ``decide_batch``
and the same scores as ``shift_score``, bit for bit, from INRs formed once."""

import numpy as np
import torch

from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm.features import graph_batch, graph_batch_of_inr
from rrm.models.gfm.policy import GFMPolicy
from rrm.models.gfm.shift import descriptors, descriptors_of


def _states(k, seed=0):
    """Eight snapshots: two with unreported cross links, one far above the trained SNR
    range (the adaptation path)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(8):
        g = rng.uniform(1e-13, 1e-10, (k, k)) + np.diag(rng.uniform(1e-10, 1e-8, k))
        mask = (rng.random((k, k)) > 0.3) if i in (3, 4) else None
        out.append(InterferenceState(g * (1e4 if i == 7 else 1.0), 4e-14, np.full(k, 0.01),
                                     csi_mask=mask))
    return out


def test_scored_batch_gives_decide_batchs_powers_and_shift_scores_bit_for_bit():
    policy = GFMPolicy()
    for k, objective in ((12, "sum"), (30, "pf")):
        states, obj = _states(k, seed=k), get_objective(objective)
        answers, scores = policy.decide_batch_scored(states, [obj] * len(states))
        plain = policy.decide_batch(states, [obj] * len(states))
        for a, b in zip(answers, plain, strict=True):
            np.testing.assert_array_equal(a.power_w, b.power_w)
        assert scores == [float(policy.shift_score(s)) for s in states]


def test_features_of_precomputed_inrs_equal_graph_batch():
    rng = np.random.default_rng(1)
    g = rng.uniform(1e-13, 1e-9, (3, 9, 9))
    noise, pmax = np.full((3, 9), 4e-14), rng.uniform(0.005, 0.02, (3, 9))
    mask = rng.random((3, 9, 9)) > 0.4
    inr = g * pmax[:, None, :] / noise[:, :, None]
    for m in (None, torch.from_numpy(mask)):
        ref = graph_batch(torch.from_numpy(g), torch.from_numpy(noise), torch.from_numpy(pmax), m)
        got = graph_batch_of_inr(torch.from_numpy(inr), torch.from_numpy(g),
                                 torch.from_numpy(noise), torch.from_numpy(pmax), m)
        for name in ("node", "edge", "known"):
            assert torch.equal(getattr(ref, name), getattr(got, name)), name
    received = g * pmax[:, None, :]
    np.testing.assert_array_equal(descriptors_of(received, inr, noise, mask),
                                  descriptors(g, noise, pmax, mask))
