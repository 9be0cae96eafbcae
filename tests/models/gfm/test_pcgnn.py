"""PCGNN as a PyG MessagePassing layer: the shipped checkpoint answers as before.

``fixtures/pcgnn_reference.npz`` holds a fixed batch (B = 4, K = 10, budgets
per link, ~30 % of the cross CSI unreported in instances 1-3, plus two K = 1
networks) and the powers the shipped ``pcgnn-small-switch`` gave for it with
the dense implementation of commit b0ead89, before the layer moved to
``torch_geometric``.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.policy import CHECKPOINTS, PCGNN_CHECKPOINT
from rrm.models.gfm.store import load_power_model

REFERENCE = np.load(Path(__file__).parent / "fixtures" / "pcgnn_reference.npz")


@pytest.fixture(scope="module")
def shipped():
    torch.set_num_threads(1)
    return load_power_model(CHECKPOINTS / PCGNN_CHECKPOINT)[0].eval()


@pytest.mark.parametrize("objective", ["sum", "pf", "qos"])
def test_shipped_checkpoint_gives_the_dense_implementations_powers(shipped, objective):
    r = REFERENCE
    g = graph_batch(torch.from_numpy(r["gains"]), torch.from_numpy(r["noise_w"]),
                    torch.from_numpy(r["pmax_w"]), torch.from_numpy(r["csi_mask"]))
    with torch.inference_mode():
        power = shipped(g, objective).numpy()
    assert np.max(np.abs(power - r[f"power_{objective}"]) / r["pmax_w"]) < 1e-5


def test_single_link_networks_aggregate_nothing(shipped):
    g = graph_batch(torch.from_numpy(REFERENCE["gains"][:2, :1, :1].copy()), 1e-3, 1.0)
    with torch.inference_mode():
        power = shipped(g, "sum").numpy()
    assert np.max(np.abs(power - REFERENCE["power_k1"])) < 1e-5


def test_checkpoint_keeps_its_parameter_names(shipped):
    from safetensors.torch import load_file

    on_disk = load_file(str(CHECKPOINTS / PCGNN_CHECKPOINT / "model.safetensors"))
    assert set(shipped.state_dict()) == set(on_disk)
    assert "backbone.layers.0.message.0.weight" in on_disk


def test_edges_are_the_known_pairs_without_self_loops():
    from rrm.models.gfm.pcgnn import sparse_edges

    known = torch.ones(2, 3, 3, dtype=torch.bool)
    known[1, 0, 2] = False  # receiver 0 of graph 1 does not know transmitter 2
    edges = sparse_edges(known)
    pairs = set(map(tuple, edges.T.tolist()))
    assert len(pairs) == 2 * 6 - 1 and (5, 3) not in pairs  # tx 2 -> rx 0 of graph 1
    assert all(j != k for j, k in pairs) and (1, 0) in pairs and (4, 5) in pairs


def test_networks_of_different_sizes_batch_into_one_pass(shipped):
    from rrm.models.gfm.pcgnn import pcgnn_powers

    r = REFERENCE
    graphs = [graph_batch(torch.from_numpy(r["gains"][:2, :k, :k].copy()),
                          torch.from_numpy(r["noise_w"][:2, :k]),
                          torch.from_numpy(r["pmax_w"][:2, :k])) for k in (10, 4, 1)]
    with torch.inference_mode():
        together = pcgnn_powers(shipped, graphs, "pf")
        for g, power in zip(graphs, together, strict=True):
            torch.testing.assert_close(power, shipped(g, "pf"), rtol=1e-5, atol=1e-6)
