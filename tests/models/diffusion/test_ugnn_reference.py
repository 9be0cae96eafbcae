"""The shipped U-GNN checkpoint denoises as before the sparse graph filters.

``fixtures/ugnn_reference.npz`` holds fixed inputs (``gso``, ``u``, ``x``,
``k``) of B = 3 ergodic networks of N = 20 and B = 2 of N = 40, and the noise
the shipped ``diffusion-small`` denoiser predicted for them with the dense
implementation of commit b0ead89 (``torch.bmm`` filters, ``S^2`` by dense
products).
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from rrm.models.diffusion.model import load_diffusion

REFERENCE = np.load(Path(__file__).parent / "fixtures" / "ugnn_reference.npz")


@pytest.fixture(scope="module")
def denoiser():
    return load_diffusion()[0].denoiser.eval()


@pytest.mark.parametrize("n", [20, 40])
def test_shipped_checkpoint_predicts_the_dense_implementations_noise(denoiser, n):
    r = {key: torch.from_numpy(REFERENCE[f"{key}_{n}"]) for key in ("x", "k", "gso", "u")}
    with torch.no_grad():
        eps = denoiser(r["x"], r["k"], r["gso"], r["u"]).numpy()
    assert np.max(np.abs(eps - REFERENCE[f"eps_{n}"])) < 1e-5
