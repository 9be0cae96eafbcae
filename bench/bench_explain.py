"""Slot-loop latency with explanations off, on, and on while polled over HTTP (issue #17).

One process, one in-process lockstep simulator per run (D18 d2d node, the
demo's default policy), runs interleaved off / on / polled so that machine
noise hits every variant alike. ``on``: the ExplainObserver keeps each
decision; ``polled``: in addition a client asks for ``/ric/v1/explain/n0``
every 20 ms, so explanations are computed (WMMSE included) on the HTTP
thread while the loop runs. Latency: indication dequeued -> control sent.
Writes bench/results/explain.md (+ .json).
Run: ``python bench/bench_explain.py [--slots 400] [--repeats 3] [--policy gfm]
[--stem explain]``; ``--policy full-reuse`` isolates the loop's own cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.wire.messages import SubscribeMsg  # noqa: E402
from rrm.sim.nodes import NodeSpec, build_node  # noqa: E402
from rrm.sim.simulator import Simulator  # noqa: E402
from rrm.xapp.app import XApp  # noqa: E402
from rrm.xapp.config import load_config  # noqa: E402
from rrm.xapp.decision import Decision  # noqa: E402
from rrm.xapp.explain_observer import EXPLAIN_PATH  # noqa: E402
from rrm.xapp.health import serve_health  # noqa: E402
from rrm.xapp.logs import configure_logging  # noqa: E402
from rrm.xapp.loop import SlotLoop  # noqa: E402
from rrm.xapp.observer import LoopObserver  # noqa: E402
from rrm.xapp.transport.base import Received  # noqa: E402
from rrm.xapp.transport.inproc import InProcessClient  # noqa: E402

VARIANTS = ("off", "on", "polled")


class TimedObserver(LoopObserver):
    """Times the wrapped observer's ``on_decision`` (the only hook the explainer uses)."""

    def __init__(self, inner: LoopObserver) -> None:
        self.inner, self.seconds = inner, []  # type: ignore[var-annotated]

    def on_decision(self, received: Received, decision: Decision) -> None:
        t0 = time.perf_counter()
        self.inner.on_decision(received, decision)
        self.seconds.append(time.perf_counter() - t0)


def _poll(port: int, stop: threading.Event, answered: list[int]) -> None:
    url = f"http://127.0.0.1:{port}{EXPLAIN_PATH}/n0"
    while not stop.wait(0.02):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            answered.append(1)
        except OSError:
            pass  # no decision yet


def one_run(variant: str, policy: str, slots: int, seed: int) -> dict[str, object]:
    sim = Simulator([build_node(NodeSpec(catalog="D18"), "n0", seed, 0.02)], 0.02,
                    lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("bench", transaction_id="b"))
    app = XApp(load_config(environ={}, flags={"policy": policy, "health_port": 0}),
               explanations=variant != "off")
    timed = [TimedObserver(o) for o in app.observers]
    loop = SlotLoop(client, app.decider, app.metrics, app.health, timed, stats=app.stats)
    stop, answered = threading.Event(), []
    server = None
    if variant == "polled":
        assert app.explainer is not None
        server, port = serve_health(app.health, app.metrics.registry, host="127.0.0.1",
                                    port=0, routes={EXPLAIN_PATH: app.explainer.route})
        threading.Thread(target=_poll, args=(port, stop, answered), daemon=True).start()
    sim.start()
    try:
        loop.run(threading.Event(), max_slots=slots)
    finally:
        stop.set()
        sim.stop()
        app.decider.close()
        if server is not None:
            server.shutdown()
    lat = np.asarray(app.stats.latency_ms)
    hook_us = np.asarray([t for o in timed for t in o.seconds] or [0.0]) * 1e6
    return {"variant": variant, "policy": policy, "seed": seed, "slots": app.stats.slots,
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "fallbacks": sum(app.stats.fallbacks.values()), "explanations_served": len(answered),
            "hook_p50_us": round(float(np.percentile(hook_us, 50)), 2),
            "hook_p99_us": round(float(np.percentile(hook_us, 99)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", default="gfm")
    parser.add_argument("--stem", default="explain", help="results file name")
    args = parser.parse_args()
    configure_logging("error")
    rows = []
    for r in range(args.repeats):
        for variant in VARIANTS:
            rows.append(one_run(variant, args.policy, args.slots, seed=r))
            print(json.dumps(rows[-1]), flush=True)
    lines = ["# Slot-loop latency with explanations off / on / polled", "", machine_line(), "",
             f"`python bench/bench_explain.py --slots {args.slots} --repeats {args.repeats} "
             f"--policy {args.policy} --stem {args.stem}`: in-process lockstep D18 node, "
             "runs interleaved; "
             "latency = indication dequeued -> control sent, ms.", "",
             "| variant | runs | p50 ms (median of runs) | p99 ms (median of runs) | "
             "p99 ms per run | explanations served | explainer hook p50 / p99 us |",
             "|---|---|---|---|---|---|---|"]
    for v in VARIANTS:
        mine = [row for row in rows if row["variant"] == v]
        p50 = float(np.median([float(str(row["p50_ms"])) for row in mine]))
        p99s = [float(str(row["p99_ms"])) for row in mine]
        served = sum(int(str(row["explanations_served"])) for row in mine)
        hook = (f"{max(float(str(r['hook_p50_us'])) for r in mine):.1f} / "
                f"{max(float(str(r['hook_p99_us'])) for r in mine):.1f}" if v != "off" else "-")
        lines.append(f"| {v} | {len(mine)} | {p50:.3f} | {float(np.median(p99s)):.3f} | "
                     f"{', '.join(f'{x:.3f}' for x in p99s)} | {served} | {hook} |")
    print(save_results(args.stem, lines, rows))


if __name__ == "__main__":
    main()
