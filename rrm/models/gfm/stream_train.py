"""Pre-training on the streamed corpus (:mod:`rrm.models.gfm.stream`), on any device.

The loop of :func:`rrm.models.gfm.train.pretrain` (Algorithm 1, one
:func:`~rrm.models.gfm.train.pretrain_step` per batch) fed by worker
processes instead of in-memory sets: an epoch is ``steps`` freshly generated
batches, so no snapshot is stored and none is seen twice. Losses stay on the
device and are read every ``log_every`` steps and at the end of each epoch.
Resume states hold the model, Adam and the scheduler; the data and the edge
masks of epoch ``e`` are functions of ``(seed, e)``, so a resumed run equals
an uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rrm.models.gfm.features import graph_batch
from rrm.models.gfm.pretrain import HybridPretrainer, sample_edge_mask
from rrm.models.gfm.stream import CorpusStream, epoch_loader
from rrm.models.gfm.train import Progress, pretrain_step, run_pretraining
from rrm.sim.scenarios.corpus import CorpusSpec


@dataclass(frozen=True)
class StreamSettings:
    """How much of the corpus one run sees: ``epochs x steps x batch_size`` snapshots."""

    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    workers: int = 0  # generator processes (0: the training process draws)
    log_every: int = 50  # steps between loss reads (each read waits for the device)


def pretrain_stream(model: HybridPretrainer, spec: CorpusSpec, run: StreamSettings,
                    device: torch.device, progress: Progress | None = None,
                    resume_dir: str | Path | None = None,
                    time_limit_s: float | None = None) -> list[dict[str, float]]:
    """Algorithm 1 over ``run.epochs`` freshly drawn epochs; the per-epoch history.

    ``progress`` gets a row every ``log_every`` steps (``step`` set) and one
    per epoch (``epoch`` set). Under ``torchrun`` the student is wrapped in
    DDP and rank r trains on batches r, r + R, ... of each epoch.
    """
    torch.manual_seed(run.seed)
    model.to(device)
    settings = {**asdict(run), "corpus": spec.as_dict(), "stream": True}
    settings.pop("workers")  # any worker count gives the same stream
    settings.pop("log_every")
    gen = torch.Generator(device)

    def epoch_fn(step_model: torch.nn.Module, opt: torch.optim.Optimizer, epoch: int,
                 rank: int, world: int) -> dict[str, float]:
        return _stream_epoch(model, step_model, opt, spec, run, epoch, gen, progress, rank,
                             world)

    # the stream draws from (seed, epoch, batch) alone: the shuffler saved is a constant
    return run_pretraining(model, epoch_fn, run.epochs, settings, np.random.default_rng(0),
                           gen, lr=run.lr, foreach=True, progress=progress,
                           resume_dir=resume_dir, time_limit_s=time_limit_s)


def _stream_epoch(model: HybridPretrainer, step_model: torch.nn.Module,
                  opt: torch.optim.Optimizer, spec: CorpusSpec, run: StreamSettings,
                  epoch: int, gen: torch.Generator, progress: Progress | None,
                  rank: int, world: int) -> dict[str, float]:
    """One epoch of ``steps_per_epoch`` streamed batches; mean losses of this rank's steps."""
    device = gen.device
    gen.manual_seed(run.seed * 1_000_003 + epoch * 1_009 + rank)  # masks: f(seed, epoch, rank)
    stream = CorpusStream(spec, run.batch_size, run.steps_per_epoch, run.seed, epoch, rank,
                          world)
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    steps, t0 = 0, time.monotonic()
    for batch in epoch_loader(stream, run.workers, pin_memory=device.type == "cuda"):
        b = batch.to(device)
        g = graph_batch(b.gains, b.noise_w, b.pmax_w)
        sums += pretrain_step(model, step_model, opt, g,
                              sample_edge_mask(g.known, model.cfg.mask_ratio, gen))
        steps += 1
        if progress and steps % run.log_every == 0:
            edge, cl = (sums / steps).tolist()
            progress({"step": steps, "loss_edge": edge, "loss_cl": cl,
                      "snapshots_per_s": steps * run.batch_size / (time.monotonic() - t0)})
    edge, cl = (sums / max(steps, 1)).tolist()
    return {"loss_edge": edge, "loss_cl": cl, "steps": steps,
            "snapshots_per_s": round(steps * run.batch_size / (time.monotonic() - t0), 1)}
