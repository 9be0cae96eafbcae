"""``rrm trace record|replay|export|compare|report``: recorded CSI and decisions."""

from __future__ import annotations

import argparse
import json

from rrm.core.errors import InvalidInput
from rrm.core.logs import configure_logging
from rrm.core.objectives import get_objective
from rrm.core.trace import read_trace
from rrm.core.trace_arrays import export_trace
from rrm.sim.cli import add_serving_args, serve
from rrm.sim.node import NodeConfig, SimNode
from rrm.sim.replay import ReplayEnv, load_recorded_slots
from rrm.sim.simulator import Simulator
from rrm.xapp.cli import xapp_run


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``rrm trace record|replay|export|compare|report``."""
    p.description = ("Traces: append-only files of indications, controls and acks "
                     "(crash-safe; a torn last record is skipped).")
    sub = p.add_subparsers(dest="trace_command", required=True, metavar="SUBCOMMAND")
    rec = sub.add_parser("record", help="run the xApp and record every indication and decision")
    xapp_run.add_run_arguments(rec)
    rec.set_defaults(run=_record)
    rep = sub.add_parser("replay", help="serve a trace as an E2 node")
    rep.add_argument("trace", help="trace file to serve")
    rep.add_argument("--slot-ms", type=float, default=10.0)
    rep.add_argument("--lockstep", action="store_true",
                     help="next slot as soon as the control arrived (no real-time wait)")
    rep.add_argument("--objective", default="sum", choices=["sum", "pf", "qos"])
    add_serving_args(rep)
    rep.set_defaults(run=_replay)
    exp = sub.add_parser("export", help="write a trace's arrays to .npz or .h5")
    exp.add_argument("trace")
    exp.add_argument("--out", required=True, help=".npz or .h5")
    exp.set_defaults(run=_export)
    cmp_ = sub.add_parser("compare", help="do two traces hold the same decisions, bit for bit?")
    cmp_.add_argument("first")
    cmp_.add_argument("second")
    cmp_.set_defaults(run=_compare)
    rpt = sub.add_parser("report", help="one HTML page of figures of a recorded run (rrm[plots])")
    rpt.add_argument("trace")
    rpt.add_argument("--out", required=True, help="directory for index.html and the PNGs")
    rpt.set_defaults(run=_report)


def _record(args: argparse.Namespace) -> int:
    if not args.record_path:
        raise InvalidInput("trace record needs --record FILE")
    return xapp_run.run(args)


def _replay(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    recorded = load_recorded_slots(args.trace)
    period = args.slot_ms / 1000.0
    nodes = []
    for node_id, slots in sorted(recorded.items()):
        env = ReplayEnv(slots, get_objective(args.objective))
        scenario = slots[0].indication.scenario
        nodes.append(SimNode(env, NodeConfig(node_id, scenario, period)))
    return serve(Simulator(nodes, period, lockstep=args.lockstep, wait_for_subscriber=True), args)


def _export(args: argparse.Namespace) -> int:
    counts = export_trace(args.trace, args.out)
    print(f"exported {sum(counts.values())} slots from {len(counts)} node(s) to {args.out}")
    return 0


def _decisions(path: str) -> list[tuple[str, int, bytes]]:
    from rrm.core.trace import RecordKind
    from rrm.core.wire import e2_pb2 as pb

    out = []
    for rec in read_trace(path).records:
        if rec.kind == RecordKind.CONTROL:
            m = pb.ControlRequest()
            m.ParseFromString(rec.payload)
            decision = m.WhichOneof("decision") or ""
            out.append((m.header.node_id, m.header.slot,
                        getattr(m, decision).SerializeToString() if decision else b""))
    return out


def _compare(args: argparse.Namespace) -> int:
    first, second = _decisions(args.first), _decisions(args.second)
    same = sum(a == b for a, b in zip(first, second, strict=False))
    result = {"first": len(first), "second": len(second), "identical": same,
              "all_identical": same == len(first) == len(second)}
    print(json.dumps(result))
    return 0 if result["all_identical"] else 1


def _report(args: argparse.Namespace) -> int:
    from rrm.xapp.report import write_report

    head = write_report(args.trace, args.out)
    print(f"report of {head['slots']} slots written to {args.out}/index.html")
    return 0
