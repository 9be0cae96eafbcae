"""Evaluation of power policies against WMMSE-Best (the paper's normalised utility)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.policy import Policy


@dataclass(frozen=True)
class EvalRow:
    """Mean utility per snapshot, its ratio to the reference, and latency."""

    policy: str
    utility: float
    ratio: float
    ms_per_snapshot: float
    ms_single: float


def mean_utility(state: InterferenceState, power: np.ndarray, objective: str) -> float:
    """Mean utility per snapshot of ``power`` on ``state``."""
    rates = physics.rates(state.gains, power, state.noise_w)
    return float(np.mean(get_objective(objective).utility(rates)))


def evaluate(policies: dict[str, Policy], state: InterferenceState, objective: str,
             reference: str = "wmmse-best") -> list[EvalRow]:
    """Utility of every policy (batched) and its single-snapshot latency."""
    obj = get_objective(objective)
    results: dict[str, tuple[float, float, float]] = {}
    one = InterferenceState(state.gains[0], state.noise_w, state.pmax_w)
    for name, policy in policies.items():
        policy.decide(one, obj)  # warm-up
        t0 = time.perf_counter()
        alloc = policy.decide(state, obj)
        batch_ms = 1e3 * (time.perf_counter() - t0) / len(state.gains)
        t0 = time.perf_counter()
        for i in range(min(20, len(state.gains))):
            policy.decide(InterferenceState(state.gains[i], state.noise_w, state.pmax_w), obj)
        single_ms = 1e3 * (time.perf_counter() - t0) / min(20, len(state.gains))
        assert isinstance(alloc, PowerAllocation)
        results[name] = (mean_utility(state, alloc.power_w, objective), batch_ms, single_ms)
    ref = results[reference][0]
    return [EvalRow(name, u, u / ref if ref else float("nan"), b, s)
            for name, (u, b, s) in results.items()]
