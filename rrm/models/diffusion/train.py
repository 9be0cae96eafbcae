"""Training the U-GNN denoiser on expert samples: DDPM objective, AdamW (seed 004, eq. 4, sec. 3.1).

Each step draws ``batch_size`` instances (network, f_min), one expert sample
of each, a step ``k ~ U{0..K-1}`` and noise ``eps``, and minimises
``||eps_theta(x_k, k | S, u) - eps||^2``. The draws of step ``i`` come from a
generator seeded with ``(seed, i)``, so a run resumed from a saved state is
the same run. Validation generates samples for the validation networks and
reports their ergodic rates (:mod:`rrm.models.diffusion.evaluate`).

Resume state (weights + AdamW moments + step) is a checkpoint directory of
its own (:mod:`rrm.models.checkpoint`: safetensors, no pickle).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rrm.core.errors import CheckpointError, ConfigError
from rrm.models.checkpoint import load_checkpoint, save_checkpoint
from rrm.models.diffusion.data import ExpertSet
from rrm.models.diffusion.evaluate import cumulative_rates, metrics
from rrm.models.diffusion.features import model_inputs, node_state, to_signal
from rrm.models.diffusion.model import GraphDiffusion


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (sec. 3.1 unless noted)."""

    steps: int = 4000  # gradient steps (paper: up to 5000 epochs; scaled for CPU)
    batch_size: int = 64  # instances per step (ours)
    lr: float = 1e-4  # AdamW, sec. 3.1
    weight_decay: float = 0.01  # AdamW default
    val_every: int = 1000  # steps between validations (ours)
    val_instances: int = 20  # validation instances sampled (ours)
    val_samples: int = 20  # samples per validation instance (ours)
    val_slots: int = 200  # time-sharing slots of the validation rates (ours)
    save_every: int = 500  # steps between resume states (ours)
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.val_every, self.save_every) < 1 or self.lr <= 0:
            raise ConfigError("training needs positive steps, batch, intervals and lr")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready config."""
        return asdict(self)


@dataclass
class Tensors:
    """A split as model tensors: ``gso [I, N, N]``, ``u [I, N, 3]``, ``x0 [I, S, N]`` in [-1, 1]."""

    gso: Tensor
    u: Tensor
    x0: Tensor

    @classmethod
    def of(cls, data: ExpertSet, device: str | torch.device = "cpu") -> Tensors:
        """Model tensors on ``device``; the GSO of each distinct network is computed once."""
        _, first, inverse = np.unique(data.large_scale[:, 0], axis=0, return_index=True,
                                      return_inverse=True)  # instances share networks (f_min)
        gso, _ = model_inputs(data.large_scale[first], data.pmax_w / data.noise_w, 0.0)
        u = torch.as_tensor(node_state(data.large_scale, data.pmax_w / data.noise_w,
                                       data.f_min[:, None]), dtype=torch.float32)
        x0 = to_signal(torch.as_tensor(data.samples, dtype=torch.float32))
        return cls(gso[torch.as_tensor(inverse.reshape(-1))].to(device), u.to(device),
                   x0.to(device))


def ddpm_loss(model: GraphDiffusion, t: Tensors, batch: int, gen: torch.Generator) -> Tensor:
    """Eq. (4) on one random batch of instances, samples, steps and noise."""
    i = torch.randint(0, len(t.x0), (batch,), generator=gen)
    s = torch.randint(0, t.x0.shape[1], (batch,), generator=gen)
    k = torch.randint(0, model.schedule.num_steps, (batch,), generator=gen)
    dev = t.x0.device
    i, s, k = i.to(dev), s.to(dev), k.to(dev)  # draws on the CPU: the same run on any device
    x0 = t.x0[i, s]  # (B, N)
    eps = torch.randn(x0.shape, generator=gen).to(dev)
    xk = model.schedule.add_noise(x0, eps, k)
    return torch.mean((model.denoiser(xk, k, t.gso[i], t.u[i]) - eps) ** 2)


def validate(model: GraphDiffusion, val: ExpertSet, cfg: TrainConfig) -> dict[str, float]:
    """Ergodic metrics of generated vs expert samples on the first validation instances."""
    m = min(cfg.val_instances, len(val))
    t = Tensors.of(val)
    gen = torch.Generator().manual_seed(cfg.seed)
    shares = model.sample_inputs(t.gso[:m], t.u[:m], cfg.val_samples, gen).double().numpy()
    out: dict[str, float] = {}
    for name, policy in (("ugnn", shares), ("expert", val.samples[:m])):
        rng = np.random.default_rng(cfg.seed)
        r = cumulative_rates(val.large_scale[:m], policy, val.noise_w, val.pmax_w,
                             cfg.val_slots, rng)[-1]
        for key, value in metrics(r, val.f_min[:m]).as_dict().items():
            out[f"{name}_{key}"] = value
    model.denoiser.train()
    return out


def _state(model: GraphDiffusion, opt: torch.optim.Optimizer) -> dict[str, Tensor]:
    """Weights and AdamW moments as flat named CPU tensors (safetensors-ready)."""
    state = {f"model.{k}": v.cpu() for k, v in model.denoiser.state_dict().items()}
    names = dict(model.denoiser.named_parameters())
    for name, p in names.items():
        s = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq", "step"):
            if key in s:
                state[f"opt.{name}.{key}"] = torch.as_tensor(s[key]).reshape(-1).cpu() \
                    if key == "step" else s[key].cpu()
    return state


def _restore(model: GraphDiffusion, opt: torch.optim.Optimizer, state: dict[str, Tensor]) -> None:
    model.denoiser.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    for name, p in model.denoiser.named_parameters():
        if f"opt.{name}.step" in state:
            opt.state[p] = {"step": state[f"opt.{name}.step"].reshape(()).clone(),
                            "exp_avg": state[f"opt.{name}.exp_avg"].to(p.device),
                            "exp_avg_sq": state[f"opt.{name}.exp_avg_sq"].to(p.device)}


def train(model: GraphDiffusion, data: ExpertSet, val: ExpertSet | None, cfg: TrainConfig,
          resume_dir: str | Path | None = None,
          progress: Callable[[int, dict[str, float]], None] | None = None,
          device: str | torch.device = "cpu", time_limit_s: float | None = None,
          ) -> list[dict[str, float]]:
    """Train ``model.denoiser`` in place on ``device``; returns the history (loss, validation).

    With ``resume_dir``, the state is saved there every ``save_every`` steps
    and training continues from it when it already holds one. With
    ``time_limit_s``, training stops after the first step past that many
    seconds, saves the resume state and returns; the history's last row then
    carries ``"stopped": 1`` (a later call with the same arguments goes on).
    Validation samples on the CPU (the weights are moved there and back).
    """
    model.denoiser.to(device)
    opt = torch.optim.AdamW(model.denoiser.parameters(), lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    t = Tensors.of(data, device)
    history: list[dict[str, float]] = []
    start = 0
    if resume_dir is not None and (Path(resume_dir) / "metadata.json").is_file():
        state, _, meta = load_checkpoint(resume_dir)
        _restore(model, opt, state)
        start, history = int(meta["step"]), list(meta["history"])
        if not _same_trajectory(meta.get("train"), cfg):
            raise CheckpointError(f"resume state in {str(resume_dir)!r} was made with another "
                                  f"training config; remove it or use the same options")
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    _run_steps(model, opt, t, val, cfg, start, history, resume_dir, progress, deadline)
    return history


def _same_trajectory(saved: Any, cfg: TrainConfig) -> bool:
    """Whether a saved training config draws the same steps as ``cfg``.

    Step count, validation and save intervals only say where to stop and what
    to log, so a resumed run may change them.
    """
    if not isinstance(saved, dict):
        return False
    keys = ("batch_size", "lr", "weight_decay", "seed")
    return all(saved.get(k) == getattr(cfg, k) for k in keys)


def _run_steps(model: GraphDiffusion, opt: torch.optim.Optimizer, t: Tensors,
               val: ExpertSet | None, cfg: TrainConfig, start: int,
               history: list[dict[str, float]], resume_dir: str | Path | None,
               progress: Callable[[int, dict[str, float]], None] | None,
               deadline: float | None) -> None:
    """Steps ``start..cfg.steps - 1`` (or until ``deadline``), appending to ``history``."""
    model.denoiser.train()
    running = 0.0
    for step in range(start, cfg.steps):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        loss = ddpm_loss(model, t, cfg.batch_size, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step > start else loss.item()
        row: dict[str, float] = {}
        stop = deadline is not None and time.monotonic() > deadline
        if (step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps or stop:
            row = {"step": step + 1, "loss": round(running, 5)}
            if val is not None and not stop:
                row.update(_validate_on_cpu(model, val, cfg))
            if stop:
                row["stopped"] = 1
            history.append(row)
        if progress is not None:
            progress(step + 1, row or {"loss": running})
        if resume_dir is not None and ((step + 1) % cfg.save_every == 0
                                       or step + 1 == cfg.steps or stop):
            save_checkpoint(resume_dir, _state(model, opt), {"kind": "diffusion-resume"},
                            {"step": step + 1, "history": history, "train": cfg.as_dict()})
        if stop:
            return


def _validate_on_cpu(model: GraphDiffusion, val: ExpertSet, cfg: TrainConfig) -> dict[str, float]:
    device = next(model.denoiser.parameters()).device
    model.denoiser.cpu()
    try:
        return validate(model, val, cfg)
    finally:
        model.denoiser.to(device)
