"""Learning-rate schedules of the fine-tuning stage (``rrm gfm finetune --lr-schedule``).

``constant`` keeps every parameter group at its base rate (the paper's recipe,
our default). ``cosine`` decays every group from its base rate to
``floor x base`` along half a cosine over the main (full) stage's optimiser
steps, stepping once per minibatch; the last step of the stage runs at the
floor. The warm-up stage (head only) always runs at the constant rate.
"""

from __future__ import annotations

import math

import torch

from rrm.core.errors import InvalidInput

LR_SCHEDULES = ("constant", "cosine")


def cosine_factor(step: int, last_step: int, floor: float) -> float:
    """Multiplier of the base rate at 0-based ``step`` of ``last_step + 1`` steps.

    1 at step 0, ``floor`` at ``last_step`` (and after), half a cosine between.
    """
    if last_step <= 0:
        return floor if step > 0 else 1.0
    t = min(step, last_step) / last_step
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def make_scheduler(opt: torch.optim.Optimizer, name: str, total_steps: int,
                   floor: float) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step scheduler over ``total_steps`` optimiser steps, or None for ``constant``.

    ``floor`` is the final rate as a share of each group's base rate (in (0, 1]).
    """
    if name not in LR_SCHEDULES:
        raise InvalidInput(f"unknown lr schedule {name!r}: use one of {', '.join(LR_SCHEDULES)}")
    if not 0 < floor <= 1:
        raise InvalidInput(f"lr floor must lie in (0, 1], got {floor}")
    if name == "constant":
        return None
    last = max(total_steps - 1, 0)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: cosine_factor(step, last, floor))
