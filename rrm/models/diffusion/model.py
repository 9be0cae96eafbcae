"""The conditional graph-signal diffusion model: U-GNN denoiser + schedule + DDIM sampler.

``GraphDiffusion.sample`` draws allocations ``x ~ D_x(. | H, u; theta)``
(seed 004, eqs. 3-5) for a batch of networks given their large-scale gains
and f_min, as power shares ``p / Pmax``. Checkpoints: :mod:`rrm.models.checkpoint`
(kind ``graph-diffusion``; the config holds the U-GNN, schedule and DDIM
settings).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from rrm.core.errors import CheckpointError
from rrm.models.checkpoint import load_checkpoint, save_checkpoint
from rrm.models.diffusion.features import model_inputs, to_power
from rrm.models.diffusion.schedule import DdimConfig, DdimSampler, NoiseSchedule, ScheduleConfig
from rrm.models.diffusion.ugnn import UGNN, UGNNConfig, fitted_gso

KIND = "graph-diffusion"
DEFAULT_SCHEDULE, DEFAULT_DDIM = ScheduleConfig(), DdimConfig()
CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED = CHECKPOINTS / "diffusion-small"  # trained at N = 20 (2-core CPU)
SHIPPED_LARGE = CHECKPOINTS / "diffusion-n400"  # N = 400: 646 steps on an H200, to 2,287 on a CPU
# From this N on the N = 400 model is the shipped one: at N = 100 and 400 it beats
# diffusion-small on p5 and feasibility (bench/results/diffusion-eval/n400-gpu-eval.md)
LARGE_PAIRS = 100


def shipped_for(pairs: int | None) -> Path:
    """The shipped checkpoint for networks of ``pairs`` pairs (``None``: ``diffusion-small``)."""
    return SHIPPED_LARGE if pairs is not None and pairs >= LARGE_PAIRS else SHIPPED


class GraphDiffusion:
    """Denoiser + noise schedule + DDIM sampler (kept apart, diffusers-style)."""

    def __init__(self, denoiser: UGNN, schedule: ScheduleConfig = DEFAULT_SCHEDULE,
                 ddim: DdimConfig = DEFAULT_DDIM) -> None:
        self.denoiser = denoiser
        self.schedule = NoiseSchedule(schedule)
        self.ddim = ddim
        self.sampler = DdimSampler(self.schedule, ddim)

    def with_ddim(self, ddim: DdimConfig) -> GraphDiffusion:
        """The same denoiser with other sampler settings."""
        return GraphDiffusion(self.denoiser, self.schedule.cfg, ddim)

    @torch.no_grad()
    def sample_inputs(self, gso: Tensor, u: Tensor, num_samples: int,
                      generator: torch.Generator | None = None,
                      step_hook: Callable[[], None] | None = None) -> Tensor:
        """``[B, S, N]`` power shares for model inputs ``gso [B, N, N]``, ``u [B, N, 3]``.

        ``step_hook()`` runs before every denoiser call; an exception it raises
        ends the draw there (a closing buffer cancels its refill this way).
        """
        self.denoiser.eval()
        b, n = u.shape[:2]
        # converted once per DDIM pass, not once per denoiser call (sparse at N = 400)
        gso_s = fitted_gso(gso.repeat_interleave(num_samples, dim=0), b * num_samples)
        u_s = u.repeat_interleave(num_samples, dim=0)

        def eps(x: Tensor, k: Tensor) -> Tensor:
            if step_hook is not None:
                step_hook()
            return self.denoiser(x, k, gso_s, u_s)

        x = self.sampler.sample(eps, (b * num_samples, n), generator)
        return to_power(x).reshape(b, num_samples, n)

    def sample(self, large_scale: NDArray[np.float64], noise_w: float, pmax_w: float,
               f_min: ArrayLike, num_samples: int, seed: int | None = None) -> NDArray[np.float64]:
        """``[B, S, N]`` power shares ``p / Pmax`` for ``large_scale [B, N, N]`` and ``f_min``."""
        g = np.asarray(large_scale, dtype=np.float64)
        fmin = np.asarray(f_min, dtype=np.float64)
        if fmin.ndim == 1 and fmin.shape[0] == g.shape[0]:
            fmin = fmin[:, None]
        gso, u = model_inputs(g, pmax_w / noise_w, fmin)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.sample_inputs(gso, u, num_samples, gen).double().numpy()

    def config(self) -> dict[str, Any]:
        """What to rebuild it from."""
        return {"kind": KIND, "ugnn": self.denoiser.cfg.as_dict(),
                "schedule": self.schedule.cfg.as_dict(),
                "ddim": {"num_inference_steps": self.ddim.num_inference_steps,
                         "eta": self.ddim.eta, "clip": self.ddim.clip}}


def save_diffusion(directory: str | Path, model: GraphDiffusion, training: dict[str, Any],
                   metadata: dict[str, Any]) -> Path:
    """Write ``model`` as a checkpoint directory."""
    return save_checkpoint(directory, model.denoiser.state_dict(),
                           {**model.config(), "training": training}, metadata)


def load_diffusion(directory: str | Path | None = None, *, pairs: int | None = None
                   ) -> tuple[GraphDiffusion, dict[str, Any]]:
    """A verified diffusion checkpoint (default: the shipped one for ``pairs``, see
    :func:`shipped_for`; without ``pairs`` the N = 20 ``diffusion-small``)."""
    d = shipped_for(pairs) if directory is None else Path(directory)
    state, config, metadata = load_checkpoint(d)
    if config.get("kind") != KIND:
        raise CheckpointError(f"{str(d)!r} is not a diffusion checkpoint "
                              f"(kind {config.get('kind')!r})")
    try:
        ugnn = UGNN(UGNNConfig(**config["ugnn"]))
        model = GraphDiffusion(ugnn, ScheduleConfig(**config["schedule"]),
                               DdimConfig(**config["ddim"]))
        ugnn.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"checkpoint {str(d)!r} does not fit the U-GNN: {first}") from None
    ugnn.eval()
    return model, metadata
