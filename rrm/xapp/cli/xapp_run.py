"""``rrm xapp run``: the xApp against an E2 node (simulator, replayer or RAN)."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
from typing import Any

from rrm.core.logs import configure_logging
from rrm.xapp.app import XApp, summary
from rrm.xapp.config import load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``rrm xapp run``."""
    p.description = "The xApp controller."
    sub = p.add_subparsers(dest="xapp_command", required=True, metavar="SUBCOMMAND")
    run_p = sub.add_parser(
        "run", help="subscribe to an E2 node and control it slot by slot",
        description="Configuration: defaults < --config/CONFIG_FILE (JSON) < RRM_* "
                    "environment variables < these flags.")
    add_run_arguments(run_p)
    run_p.set_defaults(run=run)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``rrm xapp run`` (shared with ``rrm trace record``)."""
    p.add_argument("--config", help="JSON config file (default: $CONFIG_FILE)")
    p.add_argument("--transport", choices=["grpc", "zmq"])
    p.add_argument("--e2-address", dest="e2_address",
                       help="host:port (grpc) or host:pub_port:ctl_port (zmq)")
    p.add_argument("--policy", help="policy name")
    p.add_argument("--objective", choices=["sum", "pf", "qos", "wsr"])
    p.add_argument("--health-port", dest="health_port", type=int,
                       help="HTTP port for /ric/v1/health/* and /metrics")
    p.add_argument("--health-host", dest="health_host",
                   help="address the health/metrics server binds (default 127.0.0.1)")
    p.add_argument("--record", dest="record_path", help="record a trace to this file")
    p.add_argument("--log-level", dest="log_level",
                       choices=["debug", "info", "warning", "error"])
    p.add_argument("--checkpoint", help="checkpoint directory of a learned policy")
    p.add_argument("--tls-ca", dest="tls_ca_file",
                   help="gRPC: CA bundle verifying the E2 node (enables TLS)")
    p.add_argument("--tls-cert", dest="tls_cert_file",
                   help="gRPC: the xApp's certificate for mutual TLS")
    p.add_argument("--tls-key", dest="tls_key_file",
                   help="gRPC: the xApp's private key for mutual TLS")
    p.add_argument("--curve-server-key", dest="curve_server_public_key_file",
                   help="ZeroMQ: the node's public key file (enables CURVE)")
    p.add_argument("--curve-client-key", dest="curve_client_key_file",
                   help="ZeroMQ: the xApp's key pair (.key_secret file)")
    p.add_argument("--slots", type=int, help="stop after this many slots")
    p.add_argument("--json", action="store_true", help="print the summary as JSON last")


def run(args: argparse.Namespace) -> int:
    """Resolve the config, run until SIGINT/SIGTERM or --slots, print the summary."""
    keys = ("transport", "e2_address", "policy", "objective", "health_port", "health_host",
            "record_path",
            "log_level", "checkpoint", "tls_ca_file", "tls_cert_file", "tls_key_file",
            "curve_server_public_key_file", "curve_client_key_file")
    flags = {k: getattr(args, k) for k in keys}
    cfg = load_config(args.config, flags=flags)
    configure_logging(cfg.log_level)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        """SIGINT/SIGTERM (a container's stop): finish the slot, flush, exit 0."""
        stop.set()  # also gives up a connect/subscribe wait within 0.1 s

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    app = XApp(cfg, config_path=args.config or os.environ.get("CONFIG_FILE"))
    for warning in (app.insecure, app.health.fallback_only_reason):
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    app.run(stop, max_slots=args.slots)
    result = summary(app)
    print(json.dumps(result) if args.json else _human(result), flush=True)
    # Everything is flushed; what is left is the interpreter's final garbage collection,
    # which walked torch's object graph for ~7 s on the loaded CPU (a container's stop
    # grace is 10 s). Frozen objects are skipped by it; memory goes back with the process.
    gc.freeze()
    return 0


def _human(s: dict[str, Any]) -> str:
    lat = s["latency_ms"]
    return (f"{s['slots']} slots: {s['controls']} controls, {s['refusals']} refusals, "
            f"fallbacks {s['fallbacks'] or 'none'}, {s['deadline_misses']} deadline misses, "
            f"latency p50 {lat['p50']} ms / p99 {lat['p99']} ms")
