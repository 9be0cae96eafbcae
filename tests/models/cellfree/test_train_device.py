"""EGAT training on a torch device, and validation of the deployed (rate-capped) policy."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from rrm.models.cellfree.egat import Egat, EgatConfig
from rrm.models.cellfree.train import TrainConfig, ValidationSet, train_egat
from rrm.sim.scenarios.cellfree import CellFreeConfig

TINY = EgatConfig(width=8, heads=2, layers=1)
CFG = TrainConfig(steps=4, batch_size=4, samples=2, num_aps=4, num_ues=2, validate_every=2,
                  validation_n=3, capacities_mbps=(30.0, 60.0))
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_training_runs_on_the_device_and_returns_cpu_results(device: str) -> None:
    torch.manual_seed(0)
    model = Egat(TINY)
    mu, hist = train_egat(model, CFG, log_every=1, device=device)
    assert mu.device.type == "cpu"
    assert next(model.parameters()).device.type == device
    assert hist.steps_done == CFG.steps and len(hist.val_metric) == 2


def test_the_rate_cap_never_lowers_the_validation_metric() -> None:
    torch.manual_seed(0)
    model = Egat(TINY)
    base = CellFreeConfig(num_aps=4, num_ues=2, num_antennas=2)
    cfg = replace(CFG, capacities_mbps=(5.0, 10.0), validation_n=16)  # tight: overloads
    raw = ValidationSet.draw(base, cfg).metric(model)
    capped = ValidationSet.draw(base, replace(cfg, val_rate_cap=True)).metric(model)
    assert capped >= raw
    assert capped > 0.0


def test_plateau_decay_halves_the_lr_after_patience_validations_without_a_best() -> None:
    torch.manual_seed(0)
    model = Egat(TINY)
    cfg = replace(CFG, steps=12, validate_every=1, lr_patience=2, lr=1e-3)
    _, hist = train_egat(model, cfg, log_every=1)
    assert hist.lr_decay_steps, "12 validations of a tiny model must plateau at least once"
    for a, b in zip(hist.lr_decay_steps, hist.lr_decay_steps[1:], strict=False):
        assert b - a >= 2  # patience counts from the last decay too
