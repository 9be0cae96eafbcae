"""Utility pre-training on the streamed corpus (our extension, not in GFM-RA).

The paper pre-trains the backbone without labels (masked edges, EMA
consistency) and learns allocations only from the few shots of the target.
Here the whole policy (backbone + power head) is trained on the streamed
corpus (:mod:`rrm.models.gfm.stream`) with the fine-tuning loss itself, the
negative utility of the decided powers (no labels, no solver): an
allocation-aware pre-training signal over every family, which is what makes a
model transfer zero-shot to networks it never saw (docs/gfm.md).

Each batch is one family and one K; its objective (switchable models) is a
function of ``(seed, epoch, batch)``, like the batch itself, so a run resumed
from its state after any epoch equals an uninterrupted one (tested). Adam with
a cosine learning-rate decay over the planned steps, gradients clipped to
norm 1 (the families' rates differ by an order of magnitude).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rrm.models.gfm.head import GFMPowerModel
from rrm.models.gfm.resume import restore_pretrain_state, save_pretrain_state
from rrm.models.gfm.stream import CorpusStream, StreamBatch, epoch_loader
from rrm.models.gfm.train import Progress, _random_csi_mask, utility_loss
from rrm.sim.scenarios.corpus import CorpusSpec

CLIP_NORM = 1.0
FINAL_LR_SHARE = 0.05  # the cosine decay ends at this share of the initial rate


@dataclass(frozen=True)
class UtilitySettings:
    """One utility pre-training run: ``epochs x steps_per_epoch x batch_size`` snapshots."""

    objectives: tuple[str, ...] = ("sum",)
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    csi_drop: float = 0.0  # share of cross links hidden, uniform in [0, csi_drop] per batch
    loss_scale: str = "rate"  # "bound": sum rate / interference-free bound per snapshot
    workers: int = 0
    log_every: int = 50

    def resume_key(self, spec: CorpusSpec) -> dict[str, object]:
        """What must match for a saved state to be continued (workers and logging may change)."""
        key = {**asdict(self), "corpus": spec.as_dict(), "kind": "utility"}
        key["objectives"] = list(self.objectives)
        key.pop("workers")
        key.pop("log_every")
        return key


def batch_objective(run: UtilitySettings, epoch: int, index: int) -> str:
    """The objective of batch ``index`` of ``epoch``: a pure function of the run's seed."""
    if len(run.objectives) == 1:
        return run.objectives[0]
    pick = np.random.default_rng([run.seed, epoch, index, 1]).integers(len(run.objectives))
    return run.objectives[int(pick)]


def cosine_schedule(opt: torch.optim.Optimizer, total_steps: int
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate ``lr * (f + (1 - f) (1 + cos(pi t / T)) / 2)``, ``f`` = FINAL_LR_SHARE."""
    def share(step: int) -> float:
        t = min(step, total_steps) / max(total_steps, 1)
        return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * t))
    return torch.optim.lr_scheduler.LambdaLR(opt, share)


def train_utility_stream(model: GFMPowerModel, spec: CorpusSpec, run: UtilitySettings,
                         device: torch.device, progress: Progress | None = None,
                         resume_dir: str | Path | None = None,
                         time_limit_s: float | None = None) -> list[dict[str, float]]:
    """Train ``model`` on ``run.epochs`` freshly drawn epochs; the per-epoch history.

    With ``resume_dir`` the state after every epoch is saved there and a run
    continues from it (same settings required). ``time_limit_s`` stops after
    the epoch that crosses it. The model is left on the CPU.
    """
    torch.manual_seed(run.seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=run.lr, foreach=True)
    sched = cosine_schedule(opt, run.epochs * run.steps_per_epoch)
    mask_rng, gen = np.random.default_rng([run.seed, 2]), torch.Generator(device)
    first, history = 0, list[dict[str, float]]()
    if resume_dir is not None:
        first, history = restore_pretrain_state(resume_dir, model, opt, sched, mask_rng, gen,
                                                run.resume_key(spec))
    start = time.monotonic()
    for epoch in range(first, run.epochs):
        t0 = time.monotonic()
        row = _utility_epoch(model, opt, sched, spec, run, epoch, mask_rng, device, progress)
        row = {"epoch": epoch + 1, **row, "lr": opt.param_groups[0]["lr"],
               "seconds": round(time.monotonic() - t0, 1)}
        history.append(row)
        if resume_dir is not None:
            save_pretrain_state(resume_dir, model, opt, sched, mask_rng, gen, epoch + 1,
                                history, run.resume_key(spec))
        if progress:
            progress(row)
        if time_limit_s is not None and time.monotonic() - start >= time_limit_s:
            break
    model.to("cpu")
    return history


def _utility_epoch(model: GFMPowerModel, opt: torch.optim.Optimizer,
                   sched: torch.optim.lr_scheduler.LRScheduler, spec: CorpusSpec,
                   run: UtilitySettings, epoch: int, mask_rng: np.random.Generator,
                   device: torch.device, progress: Progress | None) -> dict[str, float]:
    """One epoch of streamed batches; the mean loss (negative utility per link)."""
    stream = CorpusStream(spec, run.batch_size, run.steps_per_epoch, run.seed, epoch)
    total = torch.zeros((), dtype=torch.float64, device=device)
    steps, t0 = 0, time.monotonic()
    for index, batch in enumerate(epoch_loader(stream, run.workers,
                                               pin_memory=device.type == "cuda")):
        total += _utility_step(model, opt, batch.to(device), batch_objective(run, epoch, index),
                               run, mask_rng)
        sched.step()
        steps += 1
        if progress and steps % run.log_every == 0:
            progress({"step": steps, "loss": total.item() / steps,
                      "snapshots_per_s": steps * run.batch_size / (time.monotonic() - t0)})
    return {"loss": total.item() / max(steps, 1), "steps": steps,
            "snapshots_per_s": round(steps * run.batch_size / (time.monotonic() - t0), 1)}


def _utility_step(model: GFMPowerModel, opt: torch.optim.Optimizer, batch: StreamBatch,
                  objective: str, run: UtilitySettings, mask_rng: np.random.Generator
                  ) -> torch.Tensor:
    """One clipped Adam step on the negative utility; the detached loss (on the device)."""
    mask = _random_csi_mask(batch.gains, run.csi_drop, mask_rng)
    loss = utility_loss(model, batch.gains, batch.noise_w, batch.pmax_w, objective, mask,
                        bound_scaled=run.loss_scale == "bound")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM, foreach=True)
    opt.step()
    return loss.detach()
