"""``rrm explain TRACE --slot N``: why a recorded decision is what it is (docs/operate.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.xapp.explain import DecidedSlot, attention_rows, explain, wmmse_powers
from rrm.xapp.trace_slots import RecordedRun, TraceSlot, read_slots

ATTENTION_POLICIES = ("gfm", "gfm-wmmse")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``rrm explain``."""
    p.description = ("Explain one recorded decision: per link the decided power vs WMMSE's "
                     "on the same CSI, rate, SINR, top interferers and the rate they cost, "
                     "the guards' measured values and thresholds, and for attention models "
                     "the heads' attention on the link's neighbours.")
    p.add_argument("trace", help="trace file (rrm trace record / xApp record_path)")
    p.add_argument("--slot", type=int, required=True, help="slot number (the header's slot)")
    p.add_argument("--node", help="node id (needed when several nodes share the slot)")
    p.add_argument("--link", type=int, help="only this link (attention is shown for it)")
    p.add_argument("--top", type=int, default=3, help="interferers listed per link")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.add_argument("--out", help="write the interference graph to this PNG (rrm[plots])")
    p.add_argument("--no-attention", dest="attention", action="store_false",
                   help="skip re-running the attention backbone")
    p.set_defaults(run=run)


def find_slot(run_: RecordedRun, slot: int, node: str | None) -> TraceSlot:
    """The recorded slot ``slot`` (of ``node``); a one-line error when absent or ambiguous."""
    found = [s for s in run_.slots if s.indication.header.slot == slot
             and (node is None or s.indication.header.node_id == node)]
    if not found:
        raise InvalidInput(f"no recorded slot {slot}" + (f" for node {node!r}" if node else ""))
    nodes = sorted({s.indication.header.node_id for s in found})
    if len(nodes) > 1:
        raise InvalidInput(f"slot {slot} was recorded for nodes {', '.join(nodes)}: pass --node")
    return found[-1]


def decided_slot(run_: RecordedRun, ts: TraceSlot) -> DecidedSlot:
    """The decision of a recorded slot; cell-free and refused slots are not explained."""
    ind, ctl = ts.indication, ts.control
    if not isinstance(ind.state, InterferenceState) or np.ndim(ind.state.gains) != 2:
        raise InvalidInput("explain covers interference (d2d, ergodic) slots of one snapshot")
    if ctl is None or not isinstance(ctl.decision, PowerAllocation):
        raise InvalidInput(f"slot {ind.header.slot} was answered with a refusal: nothing to "
                           "explain")
    h = ind.header
    fraction = float(run_.config.get("deadline_fraction", 0.8))
    budget = (h.deadline_ns - h.timestamp_ns) * fraction / 1e9 if h.deadline_ns > 0 else None
    return DecidedSlot(h.node_id, h.slot, ind.state, run_.objective(ind),
                       np.asarray(ctl.decision.power_w, dtype=np.float64), ctl.policy,
                       ctl.fallback_reason, ctl.decision_latency_ns / 1e9, budget)


def _attention(run_: RecordedRun, d: DecidedSlot, link: int) -> list[dict[str, Any]]:
    if d.policy not in ATTENTION_POLICIES:
        return []
    from rrm.models.gfm.probe import link_attention, load_for_probe

    model = load_for_probe(str(run_.config.get("checkpoint") or "") or None, d.objective.name)
    if model is None:
        return []
    return [{"link": link, "layers": attention_rows(link_attention(model, d.state, link))}]


def run(args: argparse.Namespace) -> int:
    """Print (and draw) the explanation of one recorded slot."""
    run_ = read_slots(args.trace)
    d = decided_slot(run_, find_slot(run_, args.slot, args.node))
    if args.link is not None and not 0 <= args.link < d.state.num_links:
        raise InvalidInput(f"--link must be in [0, {d.state.num_links - 1}], got {args.link}")
    wmmse = wmmse_powers(d.state, d.objective)
    focus = args.link if args.link is not None else int(np.argmin(  # the weakest link
        physics.sinr(d.state.gains, d.power_w, d.state.noise_per_link)))
    if args.attention:
        from dataclasses import replace

        d = replace(d, attention=_attention(run_, d, focus))
    result = explain(d, wmmse, run_.guards, link=args.link, top=args.top)
    if args.out:
        from rrm.xapp.explain_plot import interference_graph_png

        interference_graph_png(d.state, d.power_w, args.out, highlight=focus,
                               title=f"node {d.node_id} slot {d.slot}: {d.policy}")
        result["figure"] = args.out
    print(json.dumps(result) if args.json else human(result))
    return 0


def human(e: dict[str, Any]) -> str:
    """A readable summary of an explanation."""
    lines = [f"node {e['node']} slot {e['slot']}: K={e['K']}, objective {e['objective']}, "
             f"decided by {e['policy']}" + (f" (fallback: guard {e['fallback_reason']})"
                                             if e["fallback_reason"] else ""),
             f"  utility {e['utility']:.4g}" + (f" vs WMMSE {e['utility_wmmse']:.4g}"
                                               if "utility_wmmse" in e else ""),
             "  shift score: " + ("not reported by this policy" if e["shift_score"] is None
                                  else f"{e['shift_score']:.4g}"),
             "  guards (measured / threshold):"]
    for g in e["guards"]:
        state = "pass" if g["passed"] else "TRIP"
        state = state if g["enabled"] else "off"
        lines.append(f"    {g['guard']:<10} {g['value']:>12.6g} {g['passes_if']} "
                     f"{g['threshold']:<12.6g} {state:<4} ({g['measures']})")
    lines.append("  link  power W    WMMSE W    SINR dB   rate   top interferers (tx: rate cost)")
    for ln in e["links"]:
        top = ", ".join(f"{i['tx']}: -{i['rate_cost']:.3f}" for i in ln["interferers"])
        wm = "-" if ln["wmmse_power_w"] is None else f"{ln['wmmse_power_w']:.4g}"
        lines.append(f"  {ln['link']:>4}  {ln['power_w']:<9.4g}  {wm:<9}  {ln['sinr_db']:>7.2f}"
                     f"  {ln['rate']:>5.3f}  {top}")
    for block in e.get("attention", []):
        lines.append(f"  attention of link {block['link']} (tx: weight / bias):")
        for layer in block["layers"]:
            for h in layer["heads"]:
                top = ", ".join(f"{n['tx']}: {n['attention']:.2f}/{n['bias']:+.2f}"
                                for n in h["neighbours"])
                lines.append(f"    layer {layer['layer']} head {h['head']}: {top}")
    if "figure" in e:
        lines.append(f"  interference graph: {e['figure']}")
    return "\n".join(lines)
