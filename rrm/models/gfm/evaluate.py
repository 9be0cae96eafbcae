"""Evaluation of power policies against WMMSE-Best (the paper's normalised utility)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.policy import Policy

if TYPE_CHECKING:
    from rrm.models.gfm.head import GFMPowerModel


@dataclass(frozen=True)
class EvalRow:
    """Mean utility per snapshot, its sign-safe ratio to the reference
    (:func:`normalised`), and latency."""

    policy: str
    utility: float
    ratio: float
    ms_per_snapshot: float
    ms_single: float


def mean_utility(state: InterferenceState, power: np.ndarray, objective: str) -> float:
    """Mean utility per snapshot of ``power`` on ``state``."""
    rates = physics.rates(state.gains, power, state.noise_w)
    return float(np.mean(get_objective(objective).utility(rates)))


def normalised(utility: float, reference: float, objective: str, k: int) -> float:
    """A policy's utility relative to the reference's, 1 = as good as WMMSE-Best.

    ``sum`` and ``qos``: ``1 + (U - U_ref) / |U_ref|`` (the paper's ratio
    ``U / U_ref`` when ``U_ref > 0``; it stays ordered when a QoS utility is
    negative). ``pf``: ``exp((U - U_ref) / K)``, the ratio of the geometric-mean
    rates, since ``U_pf = K log(geometric-mean rate)`` can have either sign.
    """
    if objective == "pf":
        return float(np.exp((utility - reference) / k))
    if reference == 0:
        return float("nan")
    return 1.0 + (utility - reference) / abs(reference)


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
    ref, k = results[reference][0], int(np.shape(state.gains)[-1])
    return [EvalRow(name, u, normalised(u, ref, objective, k), b, s)
            for name, (u, b, s) in results.items()]


def quick_metrics(model: GFMPowerModel, entries: list[str], objectives: list[str], n: int,
                  seed: int) -> dict[str, float]:
    """Ratios to WMMSE-Best on the first ``n`` test snapshots of each catalog entry.

    Returns ``<objective>_ratio_vs_wmmse_best`` (mean over entries) and, for
    several entries, ``<entry>_<objective>_ratio_vs_wmmse_best``; the ratio is
    :func:`normalised`. Leaves ``model`` in train mode.
    """
    import torch

    from rrm.models.gfm.data import load_entry
    from rrm.models.gfm.policy import GFMPolicy
    from rrm.models.policy import make_policy

    out: dict[str, float] = {}
    policy = GFMPolicy.from_model(model, threads=torch.get_num_threads())
    for objective in objectives:
        ratios = []
        for entry in entries:
            test = load_entry(entry, "test", n, seed)
            state = InterferenceState(test.gains.numpy(), test.noise_w, test.pmax_w)
            gfm, best = evaluate({"gfm": policy, "wmmse-best": make_policy("wmmse-best")},
                                 state, objective)
            ratios.append(normalised(gfm.utility, best.utility, objective, state.num_links))
            if len(entries) > 1:
                out[f"{entry}_{objective}_ratio_vs_wmmse_best"] = round(ratios[-1], 4)
        out[f"{objective}_ratio_vs_wmmse_best"] = round(float(np.mean(ratios)), 4)
    model.train()
    return out
