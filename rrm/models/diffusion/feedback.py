"""Run-time rate feedback on the U-GNN's f_min input: an extension, NOT the paper's method.

The U-GNN reads f_min as a per-node input (``u_j[2]``, :func:`features.node_state`).
Seed 004 feeds it the users' true f_min; this extension feeds it back the
users' shortfall, dual-ascent style, while allocations are drawn in rounds:

``lambda_u <- max(0, lambda_u + step (f_min_u - r_u))``   (after every round)
``c_u = clip(f_min_u + lambda_u, low, high)``              (next round's input)

where ``r_u`` is user u's running ergodic rate over the slots played so far
(eq. 15). Users below f_min get a higher conditioning value; users above
drift back to their true f_min (``lambda_u`` falls to 0). ``[low, high]`` is
the f_min range the model was trained on (0.4-0.8 bit/s/Hz, sec. 3.1): the
model has not seen inputs outside it.

Notation: ``B`` networks, ``N`` users per network, ``S`` samples per round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rrm.core.errors import InvalidInput
from rrm.models.diffusion.evaluate import cumulative_rates
from rrm.models.diffusion.model import GraphDiffusion

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FeedbackConfig:
    """The controller's settings (saved with every result that uses it)."""

    rounds: int = 4  # sampling rounds over the evaluation's slots
    step: float = 1.0  # (bit/s/Hz of input) per (bit/s/Hz of rate shortfall)
    low: float = 0.4  # trained f_min range, sec. 3.1 (F_MIN_LEVELS)
    high: float = 0.8

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.step < 0 or not self.low <= self.high:
            raise InvalidInput(f"feedback needs rounds >= 1, step >= 0 and low <= high, got "
                               f"{self.rounds}, {self.step}, [{self.low}, {self.high}]")


@dataclass(frozen=True)
class FeedbackStep:
    """One update: ``dual [B, N]`` (lambda), ``conditioning [B, N]`` (next input) and the
    share of users whose running rate was below f_min."""

    dual: FloatArray
    conditioning: FloatArray
    below: float


class RateFeedback:
    """Projected dual ascent on the f_min input (model-free; ``step()`` per round).

    Args:
        f_min: ``[B, N]`` (or anything broadcastable to it) true minimum rates, bit/s/Hz.
        cfg: the step size and the input range.
    """

    def __init__(self, f_min: ArrayLike, cfg: FeedbackConfig) -> None:
        self.cfg = cfg
        self.f_min = np.array(f_min, dtype=np.float64)
        self.dual = np.zeros_like(self.f_min)

    @property
    def conditioning(self) -> FloatArray:
        """``[B, N]`` the model's f_min input for the next round."""
        return np.clip(self.f_min + self.dual, self.cfg.low, self.cfg.high)

    def step(self, rates: ArrayLike) -> FeedbackStep:
        """Update lambda from running ergodic rates ``[B, N]`` (bit/s/Hz)."""
        r = np.asarray(rates, dtype=np.float64)
        self.dual = np.maximum(0.0, self.dual + self.cfg.step * (self.f_min - r))
        return FeedbackStep(self.dual.copy(), self.conditioning, float(np.mean(r < self.f_min)))


@dataclass(frozen=True)
class FeedbackRun:
    """``rates [B, N]`` ergodic over all slots of all rounds; one step per round but the last."""

    rates: FloatArray
    steps: list[FeedbackStep] = field(default_factory=list)


def round_slots(slots: int, rounds: int) -> list[int]:
    """``slots`` split into ``rounds`` near-equal parts (earlier parts one longer)."""
    if rounds > slots:
        raise InvalidInput(f"feedback rounds ({rounds}) must not exceed slots ({slots})")
    return [len(part) for part in np.array_split(np.arange(slots), rounds)]


def feedback_rates(model: GraphDiffusion, large_scale: FloatArray, noise_w: float,
                   pmax_w: float, f_min: ArrayLike, samples: int, slots: int,
                   cfg: FeedbackConfig, seed: int = 0) -> FeedbackRun:
    """Time sharing (eq. 15) with the feedback: ``rounds`` draws of ``samples`` per network.

    Round ``r`` draws ``samples`` allocations per network conditioned on the
    controller's input, plays them over its share of ``slots`` (a uniform
    candidate and a fresh Rayleigh draw per slot), and the running ergodic
    rates over all slots so far update the controller. ``large_scale [B, N, N]``,
    ``f_min [B]`` or ``[B, N]``; returns rates ``[B, N]`` over all ``slots``.
    With ``rounds = 1`` it is the plain U-GNN's time sharing.
    """
    g = np.asarray(large_scale, dtype=np.float64)
    fmin = np.asarray(f_min, dtype=np.float64)
    fmin = np.broadcast_to(fmin[:, None] if fmin.ndim == 1 else fmin, g.shape[:-1])
    control = RateFeedback(fmin, cfg)
    rng = np.random.default_rng([seed, 1])
    total = np.zeros(g.shape[:-1])  # (B, N) summed rates of the slots played
    played, steps = 0, []
    for r, t in enumerate(round_slots(slots, cfg.rounds)):
        shares = model.sample(g, noise_w, pmax_w, control.conditioning, samples,
                              seed + 1000 * r)  # (B, S, N)
        total += cumulative_rates(g, shares, noise_w, pmax_w, t, rng)[-1] * t
        played += t
        if r < cfg.rounds - 1:
            steps.append(control.step(total / played))
    return FeedbackRun(total / played, steps)
