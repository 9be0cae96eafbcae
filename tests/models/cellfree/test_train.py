"""Algorithm 2: the partial Lagrangian, the dual step, checkpoints and deterministic inference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rrm.core.cellfree_physics import rates
from rrm.core.errors import CheckpointError
from rrm.core.objectives import Objective
from rrm.models.cellfree.egat import Egat, EgatConfig, postprocess
from rrm.models.cellfree.store import load_egat, save_egat
from rrm.models.cellfree.train import (
    TorchBatch,
    TrainConfig,
    infer,
    lagrangian_terms,
    train_egat,
    train_step,
)
from rrm.models.policy import make_policy
from rrm.sim.scenarios.cellfree import CellFreeConfig
from tests.models.cellfree.conftest import cellfree_state

TINY = EgatConfig(width=8, heads=2, layers=1)


def _batch(n: int, seed: int, mbps: float = 60.0) -> TorchBatch:
    cfg = CellFreeConfig(num_aps=4, num_ues=3, fronthaul_mbps=mbps)
    return TorchBatch.draw(cfg, n, np.random.default_rng(seed))


def test_lagrangian_matches_the_numpy_physics() -> None:
    torch.manual_seed(0)
    batch = _batch(5, 1)
    v_raw = torch.complex(torch.randn(2, 5, 4, 3, 2), torch.randn(2, 5, 4, 3, 2))
    x = torch.bernoulli(torch.full((2, 5, 4, 3), 0.6))
    mu = torch.tensor([0.0, 1.0, 2.0, 3.0])
    l2, wsr, overload = lagrangian_terms(batch, v_raw, x, mu, margin=0.1)
    v = postprocess(v_raw, x, batch.pmax_w).numpy()
    h, noise = batch.h.numpy(), batch.noise_w.numpy()
    r = rates(h.astype(np.complex128), v.astype(np.complex128), x.numpy(), noise)  # (2, 5, K)
    load = np.einsum("snbk,snk->snb", x.numpy(), r)
    over = load / batch.cap.numpy() - 0.9
    expected = r.sum(-1) - (mu.numpy() * np.maximum(over, 0)).sum(-1)
    np.testing.assert_allclose(wsr.numpy(), r.sum(-1), rtol=2e-4)
    np.testing.assert_allclose(overload.numpy(), over, rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(l2.numpy(), expected, rtol=2e-4, atol=1e-3)


@pytest.mark.parametrize("mbps, grows", [(5.0, True), (5000.0, False)])
def test_dual_step_raises_mu_only_under_overload(mbps: float, grows: bool) -> None:
    torch.manual_seed(0)
    model = Egat(TINY)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    mu = torch.full((4,), 0.5)
    _, _, _, new = train_step(model, opt, _batch(16, 2, mbps), mu, TrainConfig(samples=3))
    assert bool(torch.all(new > mu)) if grows else bool(torch.all(new < mu))
    assert torch.all(new >= 0)


def test_training_checkpoint_round_trip_and_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = Egat(TINY)
    cfg = TrainConfig(steps=4, batch_size=8, samples=2, num_aps=4, num_ues=3)
    mu, hist = train_egat(model, cfg, log_every=2)
    assert hist.step == [2, 4] and mu.shape == (4,) and not model.training
    path = save_egat(tmp_path / "ck", model, mu, cfg.as_dict(), {"command": "test"})
    loaded, meta = load_egat(path)
    batch = _batch(3, 5)
    v1, x1 = infer(model, batch)
    v2, x2 = infer(loaded, batch)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(x1, x2)
    assert meta["command"] == "test" and set(np.unique(x1)) <= {0, 1}
    state = cellfree_state(2, 6, num_aps=4, num_ues=3)
    alloc = make_policy("egat", checkpoint=path).decide(state, Objective("sum"))
    power = (np.abs(alloc.v) ** 2).sum(axis=(-2, -1))
    served = alloc.x.sum(-1) > 0
    np.testing.assert_allclose(power[served], 1.0, rtol=1e-12)  # eq. (37) in float64
    assert np.all(power[~served] == 0)
    scaled = make_policy("egat", checkpoint=path, scale=True).decide(state, Objective("sum"))
    assert scaled.v.shape == state.h.shape
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="sha256"):
        load_egat(path)
    cfg_file = path / "config.json"
    cfg_file.write_text(json.dumps({"kind": "gfm-power"}))
    with pytest.raises(CheckpointError):
        load_egat(path)


def test_dnn_ablation_trains_saves_and_refuses_other_sizes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rrm.core.errors import InvalidInput
    from rrm.models.cellfree.dnn import DenseNet, DnnConfig

    torch.manual_seed(0)
    model = DenseNet(DnnConfig(num_aps=4, num_ues=3, width=16, layers=2))
    mu, _ = train_egat(model, TrainConfig(steps=2, batch_size=4, samples=2, num_aps=4,
                                          num_ues=3), log_every=1)
    path = save_egat(tmp_path / "dnn", model, mu, {}, {})
    loaded, _ = load_egat(path)
    assert isinstance(loaded, DenseNet)
    v, x = infer(loaded, _batch(2, 3))
    assert v.shape == (2, 4, 3, 2) and x.shape == (2, 4, 3)
    other = TorchBatch.draw(CellFreeConfig(num_aps=5, num_ues=3), 1, np.random.default_rng(0))
    with pytest.raises(InvalidInput, match="B=4, K=3"):
        infer(loaded, other)
