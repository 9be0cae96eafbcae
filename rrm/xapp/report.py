"""A recorded run in pictures: ``rrm trace report TRACE --out DIR`` (needs ``rrm[plots]``).

From a trace (:mod:`rrm.xapp.trace_slots`) it computes, per answered
interference slot in recording order: the utility of the powers sent on the
reported CSI, WMMSE's and full reuse's on the same CSI (WMMSE batched over
slots of equal K), the realised utility the node acked, the guard that
replaced the policy (if any), the decision latency, and whether the node
accepted and applied the control. It writes one PNG per figure and one
self-contained HTML page (``index.html``, figures inlined as data URIs).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rrm.core import physics
from rrm.core.optional import pyplot
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire.messages import AppliedSource, Outcome
from rrm.xapp.trace_slots import RecordedRun, TraceSlot, read_slots

WINDOW = 50  # slots per point of the rolling latency percentiles


@dataclass
class RunSeries:
    """Per-slot series of a recorded run (one entry per recorded slot, in order).

    Utilities are NaN where a slot has none (a refusal, a cell-free slot, no
    realised utility in the ack); ``latency_ms`` is the xApp's decision
    latency (indication received -> control built), ms.
    """

    nodes: list[str] = field(default_factory=list)
    policy: list[float] = field(default_factory=list)
    wmmse: list[float] = field(default_factory=list)
    full_reuse: list[float] = field(default_factory=list)
    realised: list[float] = field(default_factory=list)
    guard: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    accepted: list[bool] = field(default_factory=list)
    applied: list[bool] = field(default_factory=list)
    refused: list[bool] = field(default_factory=list)


def series(run: RecordedRun) -> RunSeries:
    """The per-slot series of ``run`` (WMMSE computed here, batched per K)."""
    s = RunSeries()
    for ts in run.slots:
        s.nodes.append(ts.indication.header.node_id)
        ctl, ack = ts.control, ts.ack
        s.guard.append(ctl.fallback_reason if ctl else "")
        s.latency_ms.append(ctl.decision_latency_ns / 1e6 if ctl else float("nan"))
        s.refused.append(ctl is None or not isinstance(ctl.decision, PowerAllocation))
        s.accepted.append(ack is not None and ack.outcome == Outcome.ACCEPTED)
        s.applied.append(ack is not None and ack.applied_source == AppliedSource.CONTROL)
        s.realised.append(ack.utility if ack is not None and ack.realised else float("nan"))
    s.policy, s.wmmse, s.full_reuse = _utilities(run)
    return s


def _scorable(ts: TraceSlot) -> bool:
    state = ts.indication.state
    return (isinstance(state, InterferenceState) and np.ndim(state.gains) == 2
            and ts.control is not None and isinstance(ts.control.decision, PowerAllocation))


def _interference(ts: TraceSlot) -> InterferenceState:
    state = ts.indication.state
    assert isinstance(state, InterferenceState)
    return state


def _utilities(run: RecordedRun) -> tuple[list[float], list[float], list[float]]:
    """Policy, WMMSE and full-reuse utility per slot (NaN where not scorable)."""
    from rrm.models.policy import make_policy

    n = len(run.slots)
    out = np.full((3, n), np.nan)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, ts in enumerate(run.slots):
        if _scorable(ts):
            obj = run.objective(ts.indication)
            groups.setdefault((ts.indication.state.num_links, repr(obj)), []).append(i)
    wmmse = make_policy("wmmse")
    for idx in groups.values():
        states = [_interference(run.slots[i]) for i in idx]
        objective = run.objective(run.slots[idx[0]].indication)
        gains = np.stack([st.gains for st in states])  # (n, K, K)
        noise = np.stack([st.noise_per_link for st in states])  # (n, K)
        pmax = np.stack([st.pmax_per_link for st in states])  # (n, K)
        sent = np.stack([run.slots[i].control.decision.power_w for i in idx])  # type: ignore[union-attr]
        ref = wmmse.decide(InterferenceState(gains, noise, pmax), objective)
        assert isinstance(ref, PowerAllocation)
        for row, power in enumerate((sent, ref.power_w, pmax)):
            out[row, idx] = np.atleast_1d(objective.utility(physics.rates(gains, power, noise)))
    return out[0].tolist(), out[1].tolist(), out[2].tolist()


def summary(s: RunSeries) -> dict[str, Any]:
    """Headline numbers of the page (means over slots that have them)."""
    def mean(v: list[float]) -> float | None:
        a = np.asarray(v, dtype=np.float64)
        return round(float(np.nanmean(a)), 4) if np.isfinite(a).any() else None

    lat = np.asarray(s.latency_ms, dtype=np.float64)
    lat = lat[np.isfinite(lat)]
    guards = [g for g in s.guard if g]
    return {"slots": len(s.nodes), "nodes": sorted(set(s.nodes)),
            "utility": {"policy": mean(s.policy), "wmmse": mean(s.wmmse),
                        "full_reuse": mean(s.full_reuse), "realised": mean(s.realised)},
            "fallbacks": {g: guards.count(g) for g in sorted(set(guards))},
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
                           "p99": round(float(np.percentile(lat, 99)), 3) if lat.size else None},
            "refusals": int(sum(s.refused)),
            "accepted": int(sum(s.accepted)), "applied": int(sum(s.applied))}


def _utility_fig(plt: Any, s: RunSeries) -> Any:
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    x = np.arange(len(s.nodes))
    for name, v in (("decided", s.policy), ("WMMSE (same CSI)", s.wmmse),
                    ("full reuse", s.full_reuse), ("realised (ack)", s.realised)):
        if np.isfinite(np.asarray(v, dtype=float)).any():
            ax.plot(x, v, lw=1, label=name)
    ax.set_xlabel("recorded slot")
    ax.set_ylabel("utility per slot")
    ax.legend(fontsize=8, ncol=4)
    return fig


def _fallback_fig(plt: Any, s: RunSeries) -> Any:
    fig, ax = plt.subplots(figsize=(8, 3.0), dpi=100)
    guards = sorted({g for g in s.guard if g})
    for g in guards:
        ax.step(np.arange(len(s.guard)), np.cumsum([x == g for x in s.guard]), label=g)
    if not guards:
        ax.text(0.5, 0.5, "no fallbacks in this run", ha="center", transform=ax.transAxes)
    ax.set_xlabel("recorded slot")
    ax.set_ylabel("fallbacks (cumulative)")
    if guards:
        ax.legend(fontsize=8)
    return fig


def _latency_fig(plt: Any, s: RunSeries) -> Any:
    lat = np.asarray(s.latency_ms, dtype=np.float64)
    fig, (hist, over) = plt.subplots(1, 2, figsize=(9, 3.0), dpi=100)
    hist.hist(lat[np.isfinite(lat)], bins=40)
    hist.set_xlabel("decision latency, ms")
    hist.set_ylabel("slots")
    starts = np.arange(0, len(lat), WINDOW)
    for q in (50, 99):
        over.plot(starts, [np.nanpercentile(lat[i:i + WINDOW], q) for i in starts],
                  marker="o", label=f"p{q}")
    over.set_xlabel(f"recorded slot (windows of {WINDOW})")
    over.set_ylabel("ms")
    over.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _acks_fig(plt: Any, s: RunSeries) -> Any:
    fig, ax = plt.subplots(figsize=(8, 3.0), dpi=100)
    x = np.arange(len(s.nodes))
    ax.step(x, np.arange(1, len(x) + 1), label="controls sent")
    ax.step(x, np.cumsum(s.accepted), label="accepted")
    ax.step(x, np.cumsum(s.applied), label="applied")
    ax.set_xlabel("recorded slot")
    ax.set_ylabel("cumulative")
    ax.legend(fontsize=8)
    return fig


FIGURES = (("utility", "Utility per slot vs WMMSE and full reuse (gaps: refused slots)",
             _utility_fig),
           ("fallbacks", "Fallbacks per guard over time", _fallback_fig),
           ("latency", "Decision latency: histogram and p50/p99 over time", _latency_fig),
           ("acks", "Controls accepted vs applied by the node", _acks_fig))


def write_report(trace: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write ``out_dir/index.html`` and one PNG per figure; returns the summary."""
    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = series(read_slots(trace))
    head = summary(s)
    sections = []
    for name, title, draw in FIGURES:
        fig = draw(plt, s)
        path = out / f"{name}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        sections.append(f'<h2>{html.escape(title)}</h2>\n'
                        f'<img alt="{name}" src="data:image/png;base64,{data}">')
    sections.append("<h2>Shift score</h2>\n<p>Not recorded in this trace (the policy "
                    "reported none).</p>")
    (out / "summary.json").write_text(json.dumps(head, indent=1))
    (out / "index.html").write_text(_page(str(trace), head, sections))
    return head


def _page(trace: str, head: dict[str, Any], sections: list[str]) -> str:
    u = head["utility"]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in (
        ("slots", head["slots"]), ("nodes", ", ".join(head["nodes"])),
        ("utility decided / WMMSE / full reuse / realised",
         f"{u['policy']} / {u['wmmse']} / {u['full_reuse']} / {u['realised']}"),
        ("fallbacks", head["fallbacks"] or "none"),
        ("latency p50 / p99 ms", f"{head['latency_ms']['p50']} / {head['latency_ms']['p99']}"),
        ("refusals", head["refusals"]),
        ("accepted / applied", f"{head['accepted']} / {head['applied']}")))
    body = "\n".join(sections)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>rrm run: "
            f"{html.escape(Path(trace).name)}</title><style>body{{font-family:sans-serif;"
            f"margin:2em;max-width:960px}}td{{padding:2px 12px}}img{{max-width:100%}}</style>"
            f"</head><body>\n<h1>rrm run: {html.escape(Path(trace).name)}</h1>\n"
            f"<table>{rows}</table>\n{body}\n</body></html>\n")
