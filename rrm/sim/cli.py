"""``rrm sim serve``: the bundled simulator as an E2 node (gRPC or ZeroMQ)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from rrm.core.errors import ConfigError, InvalidInput
from rrm.core.logs import configure_logging
from rrm.core.wire.credentials import CurveFiles, TlsFiles, insecure_text
from rrm.sim.e2.admission import SubscriptionLimits
from rrm.sim.node import SimNode
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``rrm sim serve``."""
    p.description = "The bundled RAN simulator (an E2 node)."
    sub = p.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")
    s = sub.add_parser("serve", help="serve simulated nodes over gRPC or ZeroMQ")
    s.add_argument("--scenario", default="d2d", choices=["d2d", "ergodic", "cellfree"],
                   help="cellfree: B=8 APs (Table I), --k UEs (default 4)")
    s.add_argument("--catalog", default="D18", help="d2d catalog entry for K and distances")
    s.add_argument("--k", type=int, help="links per node (overrides the catalog)")
    s.add_argument("--family", help="d2d: topologies from a corpus family instead of the "
                   "catalog (rayleigh-ic, gaussian-ic, itu1411-d2d; K from --k, default 18)")
    s.add_argument("--nodes", type=int, default=1, help="number of nodes (node-0, node-1, ...)")
    s.add_argument("--slot-ms", type=float, default=10.0, help="slot period in ms")
    s.add_argument("--rho", type=float, default=0.0,
                   help="Gauss-Markov fading correlation between slots (0 = block fading)")
    s.add_argument("--csi-loss", type=float, default=0.0,
                   help="share of cross links left unreported")
    s.add_argument("--control-delay", type=int, default=0, help="slots until a control applies")
    s.add_argument("--objective", default="sum", choices=["sum", "pf", "qos"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--slots", type=int, help="stop after this many slots")
    s.add_argument("--lockstep", action="store_true",
                   help="open the next slot as soon as every node answered")
    add_serving_args(s)
    s.set_defaults(run=run)


def add_serving_args(p: argparse.ArgumentParser) -> None:
    """Transport flags shared with ``rrm trace replay``."""
    p.add_argument("--transport", default="grpc", choices=["grpc", "zmq"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free port)")
    p.add_argument("--pub-port", type=int, default=5556, help="ZeroMQ indication port")
    p.add_argument("--ctl-port", type=int, default=5557, help="ZeroMQ control port")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--tls-cert", help="gRPC: the node's certificate, PEM (enables TLS)")
    p.add_argument("--tls-key", help="gRPC: the node's private key, PEM")
    p.add_argument("--tls-client-ca", help="gRPC: CA of xApp certificates (mutual TLS)")
    p.add_argument("--curve-secret-key",
                   help="ZeroMQ: the node's .key_secret certificate file (enables CURVE)")
    p.add_argument("--curve-authorized-dir",
                   help="ZeroMQ: directory of the public keys of admitted xApps")
    p.add_argument("--max-subscriptions", type=int, default=SubscriptionLimits.max_total,
                   help="open subscriptions over all peers (excess refused: OVERLOAD)")
    p.add_argument("--max-subscriptions-per-peer", type=int,
                   default=SubscriptionLimits.max_per_peer,
                   help="open subscriptions of one connection / ZeroMQ identity")


def _security(args: argparse.Namespace) -> tuple[TlsFiles | None, CurveFiles | None, str]:
    """Credentials from the flags, and the insecure-bind warning ('' when none)."""
    tls = curve = None
    if args.tls_cert or args.tls_key or args.tls_client_ca:
        if args.transport != "grpc":
            raise ConfigError("--tls-* flags apply to --transport grpc")
        tls = TlsFiles(args.tls_cert or "", args.tls_key or "", args.tls_client_ca or "")
    if args.curve_secret_key or args.curve_authorized_dir:
        if args.transport != "zmq" or not args.curve_secret_key:
            raise ConfigError("--curve-* flags apply to --transport zmq and need "
                              "--curve-secret-key")
        curve = CurveFiles(args.curve_secret_key, args.curve_authorized_dir or "")
    secured = tls is not None or curve is not None
    return tls, curve, insecure_text(args.host, secured, "bind", args.transport)


def serve(sim: Simulator, args: argparse.Namespace) -> int:
    """Expose ``sim`` on the chosen transport until SIGINT/SIGTERM or the run ends.

    Prints one JSON line ``{"event": "serving", ...}`` with the bound ports
    first, so a parent process can connect.
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    tls, curve, insecure = _security(args)
    limits = SubscriptionLimits(args.max_subscriptions, args.max_subscriptions_per_peer)
    if insecure:
        print(f"warning: {insecure}", file=sys.stderr, flush=True)
    if args.transport == "grpc":
        from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server

        server, port, health = create_grpc_server(sim, f"{args.host}:{args.port}", tls=tls,
                                                  limits=limits)
        address = f"{args.host}:{port}"
        closer = lambda: stop_grpc_server(server, health)  # noqa: E731
    else:
        from rrm.sim.e2.zmq_server import create_zmq_server

        zserver, pub, ctl = create_zmq_server(sim, args.host, args.pub_port, args.ctl_port,
                                              curve=curve, limits=limits)
        address = f"{args.host}:{pub}:{ctl}"
        closer = zserver.stop
    security = "none" if not (tls or curve) else ("tls" if tls else "curve")
    print(json.dumps({"event": "serving", "transport": args.transport, "address": address,
                      "nodes": sorted(sim.nodes), "security": security}), flush=True)
    sim.start()
    try:
        while not stop.is_set() and not sim.finished.is_set():
            stop.wait(0.2)
    finally:
        sim.stop()
        closer()
    counters = {n: dict(node.counters) for n, node in sim.nodes.items()}
    print(json.dumps({"event": "stopped", "slots": sim.slots_run, "malformed": sim.malformed,
                      "counters": counters}), flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """Build the nodes and serve them."""
    configure_logging(args.log_level)
    if args.nodes < 1 or args.slot_ms <= 0:
        raise InvalidInput("--nodes must be >= 1 and --slot-ms > 0")
    if not 0 <= args.rho <= 1 or not 0 <= args.csi_loss <= 1 or args.control_delay < 0:
        raise InvalidInput("--rho and --csi-loss must be in [0, 1], --control-delay >= 0")
    spec = NodeSpec(args.scenario, args.catalog if args.scenario == "d2d" else None, args.k,
                    args.rho, args.csi_loss, args.control_delay, objective=args.objective,
                    family=args.family)
    period = args.slot_ms / 1000.0
    nodes: list[SimNode] = [build_node(spec, f"node-{i}", args.seed + i, period)
                            for i in range(args.nodes)]
    sim = Simulator(nodes, period, lockstep=args.lockstep, max_slots=args.slots)
    sys.stdout.flush()
    return serve(sim, args)
