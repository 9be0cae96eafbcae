"""``rrm demo``: the simulator and the xApp on loopback, live progress, a summary."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

from tqdm import tqdm

from rrm.core.errors import RrmError
from rrm.core.logs import configure_logging
from rrm.xapp.app import XApp, summary
from rrm.xapp.config import load_config


def default_policy() -> str:
    """The best shipped policy: GFM-RA when its checkpoint ships, else WMMSE."""
    from rrm.models.gfm.policy import CHECKPOINTS, DEFAULT_CHECKPOINTS

    shipped = (CHECKPOINTS / DEFAULT_CHECKPOINTS["sum"] / "model.safetensors").is_file()
    return "gfm" if shipped else "wmmse"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``rrm demo``."""
    p.description = ("Starts the simulator (a D18 d2d node, 10 ms slots) in a child process "
                     "and the xApp here, runs a short closed loop with live progress, and "
                     "compares the policy with WMMSE and full reuse on the same CSI.")
    p.add_argument("--policy", default=None,
                   help="policy name (default: gfm when its checkpoint ships, else wmmse)")
    p.add_argument("--slots", type=int, default=500, help="slots to run")
    p.add_argument("--transport", default="grpc", choices=["grpc", "zmq"])
    p.add_argument("--catalog", default="D18")
    p.add_argument("--objective", default="sum", choices=["sum", "pf", "qos"])
    p.add_argument("--slot-ms", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON last")
    p.set_defaults(run=run)


def _start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", args.transport,
           "--catalog", args.catalog, "--slot-ms", str(args.slot_ms), "--seed", str(args.seed),
           "--objective", args.objective, "--port", "0", "--pub-port", "0", "--ctl-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        info = json.loads(line)
    except json.JSONDecodeError:
        proc.kill()
        raise RrmError("the simulator failed to start (see the error above)") from None
    return proc, str(info["address"])


def _watch_child(proc: subprocess.Popen[str], stop: threading.Event) -> None:
    """Stop the closed loop if the simulator process dies (never hang the demo)."""
    proc.wait()
    stop.set()


def _progress(app: XApp, total: int, stop: threading.Event) -> None:
    with tqdm(total=total, desc="closed loop", unit="slot", file=sys.stderr) as bar:
        while not stop.is_set():
            s = app.stats
            bar.update(s.slots - bar.n)
            lat = sorted(s.latency_ms)[len(s.latency_ms) // 2] if s.latency_ms else 0.0
            realised = s.utility["realised"][-50:]
            bar.set_postfix(utility=f"{sum(realised) / max(len(realised), 1):.1f}",
                            fallbacks=sum(s.fallbacks.values()), p50_ms=f"{lat:.2f}",
                            refresh=False)
            stop.wait(0.2)
        bar.update(app.stats.slots - bar.n)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the summary."""
    configure_logging("warning", json_output=False)
    args.policy = args.policy or default_policy()
    proc, address = _start_simulator(args)
    try:
        cfg = load_config(environ={}, flags={
            "transport": args.transport, "e2_address": address, "policy": args.policy,
            "objective": args.objective, "health_port": 0, "log_level": "warning"})
        app = XApp(cfg, references=True)
        stop, done = threading.Event(), threading.Event()
        bar = threading.Thread(target=_progress, args=(app, args.slots, done), daemon=True)
        bar.start()
        threading.Thread(target=_watch_child, args=(proc, stop), daemon=True).start()
        started = time.perf_counter()
        app.run(stop, max_slots=args.slots)
        done.set()
        bar.join()
        if proc.poll() is not None:
            raise RrmError(f"the simulator exited (code {proc.returncode}) after "
                           f"{app.stats.slots} slots")
        result = summary(app)
        result["seconds"] = round(time.perf_counter() - started, 2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(_table(result, args))
    if args.json:
        print(json.dumps(result))
    return 0


def _table(s: dict[str, Any], args: argparse.Namespace) -> str:
    u = s["utility"]

    def ratio(x: float | None) -> str:
        return f"{x / u['wmmse']:.3f}" if u["wmmse"] and x is not None else "-"

    lines = [
        f"\nrrm demo: {args.catalog} d2d node, {args.slot_ms:g} ms slots, {args.transport}, "
        f"objective {args.objective}",
        f"  slots {s['slots']}  controls {s['controls']}  refusals {s['refusals']}  "
        f"deadline misses {s['deadline_misses']}",
        f"  fallbacks: {s['fallbacks'] or 'none'}",
        f"  latency indication->control: p50 {s['latency_ms']['p50']} ms, "
        f"p99 {s['latency_ms']['p99']} ms",
        "  mean utility per slot (same CSI)     value   vs WMMSE",
        f"    {s['policy']:<32} {u['policy']:>7.2f}   {ratio(u['policy'])}",
        f"    {'wmmse (reference, 100 it.)':<32} {u['wmmse']:>7.2f}   1.000",
        f"    {'full reuse':<32} {u['full_reuse']:>7.2f}   {ratio(u['full_reuse'])}",
    ]
    return "\n".join(lines)
