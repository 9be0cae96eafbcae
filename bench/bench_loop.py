"""Closed-loop latency: in-process vs gRPC vs ZeroMQ, K = 20, 50, 80, 400; several nodes.

The simulator runs in a child process (``rrm sim serve --lockstep``) except
for the in-process baseline; the xApp runs here with the ``full-reuse``
policy so the figures are the loop's and the transport's own cost (policy
cost: see bench_wmmse.py). Per configuration: indication dequeued -> control
sent (p50/p99), node -> xApp one-way (transport_in: wire + queue), and the
per-stage split. Writes bench/results/loop.md (+ .json).
Run: ``python bench/bench_loop.py [--slots 300]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.sim.nodes import NodeSpec, build_node  # noqa: E402
from rrm.sim.simulator import Simulator  # noqa: E402
from rrm.xapp.app import XApp  # noqa: E402
from rrm.xapp.config import load_config  # noqa: E402
from rrm.xapp.logs import configure_logging  # noqa: E402

STAGES = ("transport_in", "decode", "policy", "guards", "encode", "send")


def start_sim(transport: str, k: int, nodes: int, slots: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", transport,
           "--k", str(k), "--nodes", str(nodes), "--slot-ms", "50", "--lockstep",
           "--slots", str(slots + 20), "--port", "0", "--pub-port", "0", "--ctl-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["address"]


def run_xapp(transport: str, address: str, slots: int) -> XApp:
    cfg = load_config(environ={}, flags={"transport": transport, "e2_address": address,
                                         "policy": "full-reuse", "health_port": 0,
                                         "log_level": "error"})
    app = XApp(cfg)
    app.run(threading.Event(), max_slots=slots, serve_http=False)
    return app


def run_inprocess(k: int, nodes: int, slots: int) -> XApp:
    from rrm.core.wire.messages import SubscribeMsg
    from rrm.xapp.loop import SlotLoop
    from rrm.xapp.transport.inproc import InProcessClient

    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 0.05)
                     for i in range(nodes)], 0.05, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("bench", transaction_id="b"))
    app = XApp(load_config(environ={}, flags={"policy": "full-reuse", "health_port": 0}))
    loop = SlotLoop(client, app.decider, app.metrics, app.health, stats=app.stats)
    sim.start()
    try:
        loop.run(threading.Event(), max_slots=slots)
    finally:
        sim.stop()
    return app


def figures(app: XApp, seconds: float | None = None) -> dict[str, float]:
    s = app.stats
    lat = np.asarray(s.latency_ms)
    row = {"slots": s.slots, "p50_ms": float(np.percentile(lat, 50)),
           "p99_ms": float(np.percentile(lat, 99)), "fallbacks": sum(s.fallbacks.values())}
    for stage in STAGES:
        row[f"{stage}_p50_ms"] = float(np.percentile(np.asarray(s.stage_ms.get(stage, [0])), 50))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=300)
    args = parser.parse_args()
    configure_logging("error")
    rows = []
    for k in (20, 50, 80, 400):
        for transport in ("inproc", "grpc", "zmq"):
            if transport == "inproc":
                app = run_inprocess(k, 1, args.slots)
            else:
                proc, address = start_sim(transport, k, 1, args.slots)
                app = run_xapp(transport, address, args.slots)
                proc.terminate()
                proc.wait(timeout=10)
            rows.append({"K": k, "transport": transport, "nodes": 1, **figures(app)})
            print(json.dumps(rows[-1]), flush=True)
    for nodes in (4, 8):
        proc, address = start_sim("grpc", 50, nodes, args.slots)
        import time
        t0 = time.perf_counter()
        app = run_xapp("grpc", address, args.slots * nodes)
        elapsed = time.perf_counter() - t0
        proc.terminate()
        proc.wait(timeout=10)
        rows.append({"K": 50, "transport": "grpc", "nodes": nodes, **figures(app),
                     "decisions_per_s": app.stats.slots / elapsed})
        print(json.dumps(rows[-1]), flush=True)
    write(rows)


def write(rows: list[dict[str, object]]) -> None:
    lines = ["# Closed-loop latency by transport and K", "", machine_line(), "",
             "Simulator in a child process (lockstep), xApp here with `full-reuse`, so the "
             "figures are the loop's and the transport's own cost. Latency: indication "
             "dequeued -> control sent (includes the control round trip, `send`). "
             "`transport_in`: node timestamp -> dequeued (wire + queue). p50 per stage in ms.",
             "", "| K | transport | nodes | p50 ms | p99 ms | " +
             " | ".join(STAGES) + " | decisions/s |",
             "|---|---|---|---|---|" + "---|" * len(STAGES) + "---|"]
    for r in rows:
        stages = " | ".join(f"{r[f'{s}_p50_ms']:.3f}" for s in STAGES)
        dps = f"{r['decisions_per_s']:.0f}" if "decisions_per_s" in r else ""
        lines.append(f"| {r['K']} | {r['transport']} | {r['nodes']} | {r['p50_ms']:.3f} | "
                     f"{r['p99_ms']:.3f} | {stages} | {dps} |")
    print(save_results("loop", lines, rows), end="")


if __name__ == "__main__":
    main()
