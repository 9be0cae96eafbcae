"""Training loops of GFM-RA: hybrid pre-training and two-stage fine-tuning.

Both loops are seeded, report progress through a callback, and return their
loss history; checkpointing and the command line live in
:mod:`rrm.models.gfm.store` and :mod:`rrm.models.gfm.cli`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from rrm.core import physics, physics_torch
from rrm.core.objectives import get_objective
from rrm.models.gfm.data import GraphSet, minibatches
from rrm.models.gfm.device import autocast
from rrm.models.gfm.features import GraphBatch, graph_batch
from rrm.models.gfm.head import GFMPowerModel
from rrm.models.gfm.pretrain import HybridPretrainer, sample_edge_mask
from rrm.models.gfm.resume import restore_pretrain_state, save_pretrain_state
from rrm.models.gfm.schedule import make_scheduler

Progress = Callable[[dict[str, float]], None]
# Edges per forward/backward slice of a CPU pre-training batch: the slice's
# (16, edges) float32 projector tensors (6.6 MB) stay in a CPU's cache
# (measured at K = 80, batch 64: 1.3-1.5x faster a step than one pass;
# slices of 12,800 edges pay more in per-op overhead than they save).
EDGES_PER_PASS = 102_400


def init_distributed() -> int:
    """Join the ``torchrun`` process group when launched by it; returns the rank.

    The backend is nccl on a GPU machine, gloo otherwise; outside ``torchrun``
    (``WORLD_SIZE`` unset or 1) nothing is initialised and the rank is 0.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank()


def distributed_rank() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside ``torchrun``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pretrain_step(model: HybridPretrainer, step_model: torch.nn.Module,
                  opt: torch.optim.Optimizer, g: GraphBatch, masked: torch.Tensor
                  ) -> torch.Tensor:
    """One Adam step on ``L_edge + lambda L_cl`` and the EMA update.

    On one CPU thread (without DDP) the batch's gradient is accumulated over slices of
    about :data:`EDGES_PER_PASS` edges
    (:meth:`~rrm.models.gfm.pretrain.HybridPretrainer.accumulate_gradients`:
    the same loss and gradient).

    Returns the detached ``(2,)`` losses ``[L_edge, L_cl]`` on the model's
    device: the caller sums them there and reads them every N steps, so a
    step never waits for the GPU (no ``.item()``).
    """
    opt.zero_grad(set_to_none=True)
    # slices that stay in cache: one CPU thread only (with more, every slice's ops
    # open their own parallel regions, and a K = 80 step measured 1.4x slower)
    if step_model is model and g.node.device.type == "cpu" and torch.get_num_threads() == 1:
        losses = model.accumulate_gradients(g, masked, EDGES_PER_PASS)
    else:
        with autocast(g.node.device):
            losses = step_model(g, masked).float()  # (2,)
        (losses[0] + model.cfg.cl_weight * losses[1]).backward()
    opt.step()
    model.update_teacher()
    return losses.detach()


def pretrain(model: HybridPretrainer, sets: list[GraphSet], epochs: int, batch_size: int,
             lr: float, seed: int, progress: Progress | None = None,
             resume_dir: str | Path | None = None, time_limit_s: float | None = None,
             device: torch.device | None = None) -> list[dict[str, float]]:
    """Algorithm 1: Adam with plateau decay; EMA teacher update after every step.

    Under ``torchrun`` the student is wrapped in DistributedDataParallel (gloo on
    CPU, nccl on GPU): every rank walks the same shuffled plan and takes every
    world-th minibatch, gradients are averaged, so the students (and therefore
    the EMA teachers) stay identical on every rank.

    With ``resume_dir`` the full state is saved there after every epoch (rank
    0) and a run finds and continues it: an interrupted run resumed gives the
    same weights as one that never stopped. ``time_limit_s`` ends the run after
    the epoch that crosses it (the history is then shorter than ``epochs``).
    ``device`` (default: the CPU) holds the model, the batches and the masks.
    """
    torch.manual_seed(seed)
    device = device or torch.device("cpu")
    model.to(device)
    rng, gen = np.random.default_rng(seed), torch.Generator(device).manual_seed(seed)
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                "sets": [[s.name, len(s.gains)] for s in sets]}

    def epoch_fn(step_model: torch.nn.Module, opt: torch.optim.Optimizer, epoch: int,
                 rank: int, world: int) -> dict[str, float]:
        return _pretrain_epoch(model, step_model, opt, sets, batch_size, rng, gen, rank, world)

    return run_pretraining(model, epoch_fn, epochs, settings, rng, gen, lr=lr,
                           progress=progress, resume_dir=resume_dir, time_limit_s=time_limit_s)


EpochFn = Callable[[torch.nn.Module, torch.optim.Optimizer, int, int, int], dict[str, float]]


def run_pretraining(model: HybridPretrainer, epoch_fn: EpochFn, epochs: int,
                    settings: dict[str, Any], rng: np.random.Generator, gen: torch.Generator,
                    lr: float, foreach: bool | None = None, progress: Progress | None = None,
                    resume_dir: str | Path | None = None, time_limit_s: float | None = None,
                    ) -> list[dict[str, float]]:
    """The epoch loop of Algorithm 1 shared by the catalog and the streamed corpus:
    DDP wrapping, Adam with plateau decay on the hybrid loss, resume state after
    every epoch (rank 0), progress rows and the time limit.

    ``epoch_fn(step_model, opt, epoch, rank, world)`` trains one epoch and returns
    its mean losses (``loss_edge``, ``loss_cl``); ``settings`` (plus the world
    size) must match for a resume state to be continued.
    """
    rank, world = distributed_rank()
    step_model: torch.nn.Module = model
    if world > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(model)
    params = [p for n, p in model.named_parameters() if not n.startswith("teacher_")]
    opt = torch.optim.Adam(params, lr=lr, foreach=foreach)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=model.cfg.lr_factor, patience=model.cfg.lr_patience)
    settings = {**settings, "world": world}
    first, history = 0, list[dict[str, float]]()
    if resume_dir is not None:
        first, history = restore_pretrain_state(resume_dir, model, opt, sched, rng, gen,
                                                settings)
    start = time.monotonic()
    for epoch in range(first, epochs):
        t0 = time.monotonic()
        row = epoch_fn(step_model, opt, epoch, rank, world)
        row = {"epoch": epoch + 1, **row, "lr": opt.param_groups[0]["lr"],
               "seconds": round(time.monotonic() - t0, 1)}
        sched.step(row["loss_edge"] + model.cfg.cl_weight * row["loss_cl"])
        history.append(row)
        if resume_dir is not None and rank == 0:
            save_pretrain_state(resume_dir, model, opt, sched, rng, gen, epoch + 1, history,
                                settings)
        if progress:
            progress(row)
        if time_limit_s is not None and time.monotonic() - start >= time_limit_s:
            break
    return history


def _pretrain_epoch(model: HybridPretrainer, step_model: torch.nn.Module,
                    opt: torch.optim.Optimizer, sets: list[GraphSet], batch_size: int,
                    rng: np.random.Generator, gen: torch.Generator, rank: int,
                    world: int) -> dict[str, float]:
    """One pass over the shuffled minibatches; mean losses of this rank's steps."""
    device = gen.device
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    steps = 0
    for i, (s, gains) in enumerate(minibatches(sets, batch_size, rng)):
        g = graph_batch(gains.to(device, non_blocking=True), s.noise_w, s.pmax_w)
        masked = sample_edge_mask(g.known, model.cfg.mask_ratio, gen)
        if i % world != rank:
            continue  # another rank's minibatch (the draws above keep streams aligned)
        sums += pretrain_step(model, step_model, opt, g, masked)
        steps += 1
    loss_edge, loss_cl = (sums / max(steps, 1)).tolist()  # one host read per epoch
    return {"loss_edge": loss_edge, "loss_cl": loss_cl}


def _random_csi_mask(gains: torch.Tensor, max_share: float,
                     rng: np.random.Generator) -> torch.Tensor | None:
    """``(B, K, K)`` reported links: the evaluation's mask model
    (:func:`rrm.core.physics.random_csi_mask`) at a share ~ U(0, max_share)."""
    if max_share <= 0:
        return None
    share = rng.random() * max_share
    mask = torch.from_numpy(physics.random_csi_mask(rng, tuple(gains.shape), share))
    return mask.to(gains.device, non_blocking=True)


@dataclass(frozen=True)
class FinetuneConfig:
    """Two-stage fine-tuning (sec. IV-A "Fine-tuning Details")."""

    objective: str = "sum"
    warmup_epochs: int = 10  # head warm-up, backbone frozen
    epochs: int = 100  # full fine-tuning
    backbone_lr: float = 1e-4
    head_lr: float = 1e-3
    batch_size: int = 64
    # Small N-shot sets are cut into at least this many minibatches per epoch
    # (64 shots -> batches of 8): with one 64-snapshot batch, 110 epochs are
    # only 110 Adam steps and the model stops far from converged (measured on
    # D18, 64 shots: 0.77 of WMMSE-Best with 42 steps, 0.94 from scratch with
    # 1,680 steps).
    min_steps_per_epoch: int = 8
    # Our extension (not in the paper): each minibatch hides a share, uniform in
    # [0, csi_drop], of its cross links behind the mask token; the loss still
    # scores the powers on the true channels (robustness to missing CSI).
    csi_drop: float = 0.0
    # Our extension: the main stage's rate schedule (rrm.models.gfm.schedule):
    # "constant" (the paper) or "cosine" down to lr_floor x each base rate.
    lr_schedule: str = "constant"
    lr_floor: float = 0.01

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return asdict(self)

    def effective_batch_size(self, n_snapshots: int) -> int:
        """``batch_size``, reduced so a set of ``n_snapshots`` gives ``min_steps_per_epoch``."""
        floor = -(-n_snapshots // max(self.min_steps_per_epoch, 1))
        return max(1, min(self.batch_size, floor))


def utility_loss(model: GFMPowerModel, gains: torch.Tensor, noise_w: torch.Tensor | float,
                 pmax_w: torch.Tensor | float,
                 objective: str, csi_mask: torch.Tensor | None = None,
                 bound_scaled: bool = False) -> torch.Tensor:
    """Negative utility per link (mean over the batch): the fine-tuning loss.

    ``csi_mask (B, K, K)`` (True = reported) hides links from the model only:
    the rates are always those of the true ``gains``. ``bound_scaled`` (sum
    only) divides each snapshot's sum rate by its interference-free bound
    ``sum_k log2(1 + G_kk Pmax_k / sigma_k^2)``, so networks whose rates differ
    by an order of magnitude weigh alike (the loss is then minus a share in
    (0, 1]).
    """
    g = graph_batch(gains, noise_w, pmax_w, csi_mask)
    with autocast(gains.device):
        power = model(g, objective)
    rates = physics_torch.rates(g.gains, power.to(g.gains.dtype), g.noise_w)
    if bound_scaled and objective == "sum":
        direct = torch.diagonal(g.gains, dim1=-2, dim2=-1) * g.pmax_w / g.noise_w  # (B, K)
        return -(rates.sum(-1) / torch.log2(1.0 + direct).sum(-1).clamp_min(1e-9)).mean()
    k = gains.shape[-1]
    return -(get_objective(objective).utility(rates) / k).mean()


def finetune(model: GFMPowerModel, sets: list[GraphSet], cfg: FinetuneConfig, seed: int,
             progress: Progress | None = None,
             objectives: tuple[str, ...] | None = None,
             device: torch.device | None = None) -> list[dict[str, float]]:
    """Stage 1: head only; stage 2: all, backbone lr 1e-4 / head lr 1e-3.

    Stage 2 follows ``cfg.lr_schedule`` per minibatch (``constant``: no
    scheduler at all, the paper's loop unchanged). Each row of the history
    carries the head's rate after its epoch (``lr``).
    ``objectives`` (switchable model): each minibatch draws one of them.
    ``device`` (default: the CPU) holds the model and the minibatches; the
    loss is read once per epoch. The model is left on the CPU.
    """
    torch.manual_seed(seed)
    device = device or torch.device("cpu")
    model.to(device)
    rng, mask_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    batch_size = cfg.effective_batch_size(min(len(s.gains) for s in sets))
    history: list[dict[str, float]] = []
    stages = (("warmup", cfg.warmup_epochs, False), ("full", cfg.epochs, True))
    for stage, epochs, full in stages:
        model.backbone.requires_grad_(full)
        groups = [{"params": model.head.parameters(), "lr": cfg.head_lr}]
        if full:
            groups.append({"params": model.backbone.parameters(), "lr": cfg.backbone_lr})
        opt = torch.optim.Adam(groups)
        sched = make_scheduler(opt, cfg.lr_schedule if full else "constant",
                               epochs * _steps_per_epoch(sets, batch_size), cfg.lr_floor)
        for _ in range(epochs):
            total, steps = torch.zeros((), dtype=torch.float64, device=device), 0
            for s, gains in minibatches(sets, batch_size, rng):
                objective = (objectives[rng.integers(len(objectives))] if objectives
                             else cfg.objective)
                gains = gains.to(device, non_blocking=True)
                loss = utility_loss(model, gains, s.noise_w, s.pmax_w, objective,
                                    _random_csi_mask(gains, cfg.csi_drop, mask_rng))
                opt.zero_grad()
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total, steps = total + loss.detach(), steps + 1
            row = {"stage": stage, "epoch": len(history) + 1,
                   "loss": total.item() / max(steps, 1), "lr": opt.param_groups[0]["lr"]}
            history.append(row)  # type: ignore[arg-type]
            if progress:
                progress(row)  # type: ignore[arg-type]
    model.backbone.requires_grad_(True)
    model.to("cpu")
    return history


def _steps_per_epoch(sets: list[GraphSet], batch_size: int) -> int:
    """Minibatches in one epoch of :func:`rrm.models.gfm.data.minibatches`."""
    return sum(-(-len(s.gains) // batch_size) for s in sets)
