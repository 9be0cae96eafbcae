"""Why this slot: one interference decision explained per link.

For a decided power vector on reported CSI (live or from a trace) the
explanation gives, per link k: the decided power against WMMSE's on the
same CSI, its SINR and rate, and its top interferers j with the gain
``g_kj``, the received interference ``g_kj p_j`` and the rate it costs,

    cost_kj = log2(1 + g_kk p_k / (I_k - g_kj p_j + n_k)) - log2(1 + SINR_k),

i.e. the rate link k would gain if transmitter j were silent (all else
equal). It also lists the guards with the value each measured and its
threshold (:mod:`rrm.xapp.guards`), the fallback that replaced the policy's
output (if any), the shift score when the policy reported one, and for
attention models the heads' attention and bias on the link's neighbours
(:mod:`rrm.models.gfm.probe`, filled in by the caller).

Pure numpy on one snapshot (``gains [K, K]``); nothing here runs on the
slot's path: the xApp keeps decisions (:class:`ExplainObserver`) and
computes an explanation when one is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.xapp.guards import GuardConfig

TOP_INTERFERERS = 3


@dataclass(frozen=True)
class DecidedSlot:
    """One decision to explain.

    Attributes:
        node_id / slot: where it was decided.
        state: the reported CSI, one snapshot (``gains [K, K]``).
        objective: the objective it was decided under.
        power_w: ``[K]`` float, watts, the powers sent.
        policy: name of what produced them (the policy, or the fallback's name).
        fallback_reason: the guard that replaced the policy's output ('' if none).
        latency_s: decision latency in seconds (None when unknown).
        budget_s: the policy's time budget in seconds (None when unknown).
        shift_score: the policy's distribution-shift score (None when not reported).
    """

    node_id: str
    slot: int
    state: InterferenceState
    objective: Objective
    power_w: np.ndarray
    policy: str
    fallback_reason: str = ""
    latency_s: float | None = None
    budget_s: float | None = None
    shift_score: float | None = None
    attention: list[dict[str, Any]] = field(default_factory=list)


def interferer_costs(gains: np.ndarray, power_w: np.ndarray, noise_w: np.ndarray) -> np.ndarray:
    """Rate each transmitter costs each receiver: ``[K, K]`` bit/s/Hz, zero on the diagonal.

    Args:
        gains: ``[K, K]`` linear power gain, receiver k from transmitter j.
        power_w: ``[K]`` watts. noise_w: ``[K]`` watts.
    """
    g = np.asarray(gains, dtype=np.float64)
    p = np.asarray(power_w, dtype=np.float64)
    signal = np.diag(g) * p  # (K,)
    received = g * p[None, :]  # (K, K): g_kj p_j
    interference = received.sum(axis=1) - signal  # (K,)
    with_all = np.log2(1.0 + signal / (interference + noise_w))
    rest = np.maximum(interference[:, None] - received, 0.0)  # (K, K): I_k - g_kj p_j
    without = np.log2(1.0 + signal[:, None] / (rest + noise_w[:, None]))
    cost = np.maximum(without - with_all[:, None], 0.0)  # rounding may dip below 0
    np.fill_diagonal(cost, 0.0)
    return cost


def guard_values(d: DecidedSlot, cfg: GuardConfig) -> list[dict[str, Any]]:
    """Each output guard's measured value against its threshold, on the powers sent."""
    s, p = d.state, np.asarray(d.power_w, dtype=np.float64)
    pmax = s.pmax_per_link
    rates = physics.rates(s.gains, p, s.noise_per_link)
    full = physics.rates(s.gains, pmax, s.noise_per_link)
    objective = d.objective
    mine, ref = float(objective.utility(rates)), float(objective.utility(full))
    rows = [
        _row("non_finite", float(np.sum(~np.isfinite(p))), 0.0, "non-finite powers", "<="),
        _row("budget", float(np.max(p / pmax)), 1.0 + cfg.budget_tolerance,
             "max p / pmax", "<="),
        _row("utility", mine, ref - cfg.utility_margin * abs(ref),
             "utility vs full reuse minus margin", ">=", enabled=cfg.utility_margin >= 0),
        _row("qos", float(np.mean(rates < cfg.r_min)), cfg.qos_violation_max,
             f"share of links below r_min={cfg.r_min}", "<=",
             enabled=cfg.qos_violation_max < 1.0),
    ]
    if d.latency_s is not None and d.budget_s is not None:
        rows.append(_row("deadline", d.latency_s * 1e3, d.budget_s * 1e3, "decision ms", "<="))
    return rows


def _row(guard: str, value: float, threshold: float, measures: str, sense: str,
         enabled: bool = True) -> dict[str, Any]:
    ok = value <= threshold if sense == "<=" else value >= threshold
    return {"guard": guard, "measures": measures, "value": round(value, 6),
            "threshold": round(threshold, 6), "passes_if": sense, "enabled": enabled,
            "passed": bool(ok or not enabled)}


def explain(d: DecidedSlot, wmmse_power_w: np.ndarray | None, cfg: GuardConfig,
            link: int | None = None, top: int = TOP_INTERFERERS) -> dict[str, Any]:
    """The explanation of one decision as a JSON-serialisable dict.

    Args:
        d: the decision.
        wmmse_power_w: ``[K]`` WMMSE's powers on the same CSI (None: not computed).
        cfg: the guard thresholds the xApp ran with.
        link: only this link (None: every link).
        top: interferers listed per link.
    """
    s = d.state
    if np.ndim(s.gains) != 2:
        raise InvalidInput("explain takes one snapshot (gains [K, K])")
    k = s.num_links
    if link is not None and not 0 <= link < k:
        raise InvalidInput(f"--link must be in [0, {k - 1}], got {link}")
    p = np.asarray(d.power_w, dtype=np.float64)
    noise, pmax = s.noise_per_link, s.pmax_per_link
    sinr = physics.sinr(s.gains, p, noise)
    rates = np.log2(1.0 + sinr)
    cost = interferer_costs(s.gains, p, noise)
    received = np.asarray(s.gains, dtype=np.float64) * p[None, :]
    links = range(k) if link is None else [link]
    out: dict[str, Any] = {
        "node": d.node_id, "slot": d.slot, "K": k, "objective": d.objective.name,
        "policy": d.policy, "fallback_reason": d.fallback_reason,
        "shift_score": d.shift_score, "utility": round(float(d.objective.utility(rates)), 6),
        "guards": guard_values(d, cfg),
        "links": [_link(j, p, pmax, sinr, rates, cost, received, s.gains, top,
                        wmmse_power_w) for j in links],
    }
    if wmmse_power_w is not None:
        w_rates = physics.rates(s.gains, wmmse_power_w, noise)
        out["utility_wmmse"] = round(float(d.objective.utility(w_rates)), 6)
    if d.attention:
        out["attention"] = d.attention
    return out


def _link(k: int, p: np.ndarray, pmax: np.ndarray, sinr: np.ndarray, rates: np.ndarray,
          cost: np.ndarray, received: np.ndarray, gains: np.ndarray, top: int,
          wmmse: np.ndarray | None) -> dict[str, Any]:
    order = [int(j) for j in np.argsort(-cost[k]) if j != k][:top]
    return {
        "link": k, "power_w": float(p[k]), "power_frac": round(float(p[k] / pmax[k]), 6),
        "wmmse_power_w": None if wmmse is None else float(wmmse[k]),
        "sinr_db": round(float(10 * np.log10(max(sinr[k], 1e-30))), 3),
        "rate": round(float(rates[k]), 6),
        "interferers": [{"tx": j, "gain": float(gains[k, j]),
                         "interference_w": float(received[k, j]),
                         "rate_cost": round(float(cost[k, j]), 6)} for j in order],
    }


def wmmse_powers(state: InterferenceState, objective: Objective) -> np.ndarray:
    """WMMSE's powers ``[K]`` (the reference, 100 iterations) on the same CSI."""
    from rrm.models.policy import make_policy

    alloc = make_policy("wmmse").decide(state, objective)
    assert isinstance(alloc, PowerAllocation)
    return np.asarray(alloc.power_w, dtype=np.float64)



def attention_rows(layers: list[Any], top: int = TOP_INTERFERERS) -> list[dict[str, Any]]:
    """Per layer and head, the ``top`` neighbours by attention with their weight and bias.

    Args:
        layers: :class:`rrm.models.gfm.probe.LayerAttention` per layer
            (``attention``, ``bias``: ``[H, K]``).
    """
    out = []
    for depth, layer in enumerate(layers):
        heads = []
        for h, (att, bias) in enumerate(zip(layer.attention, layer.bias, strict=True)):
            order = np.argsort(-att)[:top]
            heads.append({"head": h, "neighbours": [
                {"tx": int(j), "attention": round(float(att[j]), 4),
                 "bias": round(float(bias[j]), 4)} for j in order]})
        out.append({"layer": depth, "heads": heads})
    return out
