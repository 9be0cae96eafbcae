"""Resumable EGAT training: a run cut into pieces ends bit-exactly where one piece ends."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rrm.core.errors import CheckpointError
from rrm.models.cellfree.egat import Egat, EgatConfig
from rrm.models.cellfree.train import TrainConfig, train_egat

TINY = EgatConfig(width=8, heads=2, layers=1)
CFG = TrainConfig(steps=6, batch_size=4, samples=2, num_aps=4, num_ues=2, validate_every=2,
                  validation_n=3, epoch_steps=2, capacities_mbps=(30.0, 60.0))


def _run(cfg: TrainConfig, resume: Path | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    torch.manual_seed(0)
    model = Egat(TINY)
    mu, _ = train_egat(model, cfg, log_every=1, resume_dir=resume)
    return model.state_dict(), mu


@pytest.mark.parametrize("sizes", [(), ((4, 2), (5, 3))])
def test_pieces_continue_bit_exactly(tmp_path: Path, sizes: tuple[tuple[int, int], ...]) -> None:
    cfg = replace(CFG, sizes=sizes)
    whole, mu_whole = _run(cfg, None)
    _run(replace(cfg, steps=2), tmp_path / "r")  # first piece stops after one epoch
    _run(replace(cfg, steps=4), tmp_path / "r")  # a second piece extends the run
    pieces, mu_pieces = _run(cfg, tmp_path / "r")
    assert torch.equal(mu_whole, mu_pieces)
    assert mu_whole.shape == ((1,) if sizes else (4,))
    for name, value in whole.items():
        assert torch.equal(value, pieces[name]), name


def test_a_finished_run_resumes_to_the_same_answer(tmp_path: Path) -> None:
    first, _ = _run(CFG, tmp_path / "r")
    again, _ = _run(CFG, tmp_path / "r")  # nothing left to do: same (best) weights
    for name, value in first.items():
        assert torch.equal(value, again[name]), name


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    _run(replace(CFG, steps=2), tmp_path / "r")
    with pytest.raises(CheckpointError, match="other settings"):
        _run(replace(CFG, lr=5e-4), tmp_path / "r")
