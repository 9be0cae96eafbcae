"""Evaluation of cell-free policies on fresh instances (EGAT sec. V, Figs. 5-10, Tables II-IV).

For each policy and setting: the weighted sum rate per instance after the
heuristic fronthaul scaling of sec. V-A (the paper's comparison; the
baselines are feasible by construction and unchanged by it), the share of
instances whose raw answer was already feasible ("without scaling",
Tables II-IV), the mean number of serving APs per UE (Fig. 9) and the
wall time per instance of one ``decide`` call on a single instance (Fig. 10).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rrm.core.cellfree_physics import feasible
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, CellFreeState
from rrm.models.cellfree.batch import CellFreeBatch, FloatArray, weighted_sum_rate
from rrm.models.cellfree.fronthaul import scale_to_fronthaul
from rrm.models.policy import Policy
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree, to_state

OBJECTIVE = Objective("sum")  # Table I: w_k = 1


@dataclass(frozen=True)
class PolicyScore:
    """One policy on one set of instances.

    Attributes:
        wsr: ``[n]`` weighted sum rate after heuristic scaling, bit/s/Hz.
        feasible_raw: ``[n]`` bool, the policy's own answer met every budget.
        aps_per_ue: mean number of serving APs per UE (after scaling).
        seconds: wall time of the batched ``decide`` per instance, s.
    """

    wsr: FloatArray
    feasible_raw: np.ndarray
    aps_per_ue: float
    seconds: float


def instances(cfg: CellFreeConfig, n: int, seed: int) -> CellFreeState:
    """``n`` test snapshots (a batched state)."""
    return to_state(generate_cellfree(cfg, n, np.random.default_rng(seed)))


def score(policy: Policy, state: CellFreeState) -> PolicyScore:
    """Run ``policy`` on every instance of ``state`` and score it."""
    batch = CellFreeBatch.of(state)
    t0 = time.perf_counter()
    alloc = policy.decide(state, OBJECTIVE)
    seconds = (time.perf_counter() - t0) / batch.shape[0]
    if not isinstance(alloc, BeamformingAllocation):
        raise InvalidInput(f"policy {policy.name!r} did not answer with beamforming")
    v = np.asarray(alloc.v).reshape(batch.h.shape)
    x = np.asarray(alloc.x).reshape(batch.h.shape[:-1])
    ok = feasible(batch.h, v, x, batch.noise_w, batch.pmax_w, batch.cap * batch.bandwidth_hz,
                  batch.bandwidth_hz)
    v2, x2, _ = scale_to_fronthaul(batch, v.copy(), x)
    wsr = weighted_sum_rate(batch, v2, x2)
    return PolicyScore(wsr, ok, float(x2.sum(axis=1).mean()), seconds)


def single_instance_seconds(policy: Policy, state: CellFreeState, repeats: int) -> float:
    """Median wall time of ``decide`` on one ``[B, K, M]`` instance, s (Fig. 10)."""
    times = []
    for i in range(repeats):
        one = CellFreeState(state.h[i % state.h.shape[0]], state.noise_w, state.pmax_w,
                            state.fronthaul_bps, state.bandwidth_hz)
        t0 = time.perf_counter()
        policy.decide(one, OBJECTIVE)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
