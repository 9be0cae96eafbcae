"""Slot-loop throughput and overload: in-process, gRPC, ZeroMQ; before and after, one run.

Every configuration runs in a child process (``--child``) whose PYTHONPATH
picks the tree, so the base tree (``--base``, e.g. main at the branch point)
and this tree are measured side by side, alternating, in one run. K = 50.

Only a steady-state window is measured, the same way for both trees: every
answer is time-stamped where the loop records its latency
(``LoopStats.latency_ms``); the first ``warm`` answers (the policy's first
calls per batch size: a frozen graph's first calls cost 10-25 ms) are
discarded, and the simulator runs unbounded until the window is complete
(it is then terminated), so no slot of the window is lost to a stream the
node closed while indications were still queued at the xApp, nor to slots
the node's clock ran before the xApp had subscribed.

* Lockstep: the simulator opens the next slot as soon as every node
  answered; decisions/s = answers in the window / the window's wall time;
  node CPU per decision (the ``rrm sim serve`` child's user + system time
  over the window; in-process the simulator shares the process: not split).
* Real time: 8 nodes, slot period set for an offered load (indications/s);
  on-time decisions/s = answers in the window sent before their deadline /
  the window's length; the knee is the largest offered load with < 1 % of
  indications late or dropped, and the table shows what the loop still
  delivers past it.
* Closed loop (``--closed-loop``): real time at one slot period (20 ms) with 1
  and 8 nodes, gfm, over a longer window (``CLOSED_LOOP_WINDOW_S``): p50 / p99
  of the xApp's own indication received -> control sent (``latency_ms``) and
  of the node's stamp -> xApp received (``transport_in``: wire and queue), so
  node stamp -> control sent is about their sum.

Run: ``python bench/bench_throughput.py --base /work/w3-i18-base [--quick]``.
Writes bench/results/throughput.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
K = 50
TICK = os.sysconf("SC_CLK_TCK")
# offered loads of the real-time sweep (indications/s from 8 nodes), around the knee
# measured on the quiet 2-core machine (250-400/s, issue #18)
LOADS = (100, 200, 400, 600, 800)
WARM_SLOTS = 20  # lockstep slots per node discarded before the window (first calls)
REALTIME_WARM_S = 2.0  # real time: seconds discarded before the window
REALTIME_WINDOW_S = 3.0  # real time: the window, s
CLOSED_LOOP_WINDOW_S = 10.0  # closed loop: the window, s (500 answers of one node at 20 ms)
CLOSED_LOOP_SLOT_MS = 20.0  # issue #18: closed-loop p99 at 20 ms slots
RUN_LIMIT_S = 120.0  # a configuration that has not completed its window by then stops


class Stamped(deque):  # type: ignore[type-arg]
    """``LoopStats.latency_ms`` that also time-stamps every answer and stops the run
    when the window is complete (``mark(i)`` is called at answers ``i`` in ``marks``)."""

    def __init__(self, stats: Any, on_mark: Any, marks: tuple[int, ...]) -> None:
        super().__init__(maxlen=100_000)
        self.stats, self.on_mark, self.marks = stats, on_mark, marks
        self.at: list[tuple[float, float, int]] = []  # (perf_counter s, latency ms, late)

    def append(self, latency_ms: float) -> None:
        super().append(latency_ms)
        self.at.append((time.perf_counter(), latency_ms, self.stats.deadline_misses))
        if len(self.at) in self.marks:
            self.on_mark(len(self.at))


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this process; its figures."""
    from rrm.xapp.logs import configure_logging

    configure_logging("error")
    if spec["transport"] == "inproc":
        return _inproc(spec)
    return _remote(spec)


class Window:
    """The measured window of one run: lockstep by answer count, real time by clock."""

    def __init__(self, spec: dict[str, Any], stats: Any, stop: threading.Event,
                 cpu_of: Any = None) -> None:
        self.spec, self.stats, self.stop, self.cpu_of = spec, stats, stop, cpu_of
        self.lockstep = spec["lockstep"]
        self.window_s = float(spec.get("window_s", REALTIME_WINDOW_S))
        self.warm = spec["nodes"] * WARM_SLOTS if self.lockstep else 0
        self.end = self.warm + spec["answers"] if self.lockstep else 0
        self.cpu: dict[int, float] = {}
        self.own_cpu: dict[int, float] = {}  # this process's CPU s (xApp; + node in-process)
        self.dropped: dict[int, int] = {}
        self.reasons: dict[int, dict[str, int]] = {}  # drops by reason, then sheds
        self.transport_in: dict[int, int] = {}  # transport_in samples so far (< LATENCY_WINDOW)
        stats.latency_ms = Stamped(stats, self._mark, (self.warm, self.end)
                                   if self.lockstep else ())
        self.t0 = time.perf_counter()

    def _mark(self, n: int) -> None:
        self.own_cpu[n] = time.process_time()
        if self.cpu_of is not None:
            self.cpu[n] = self.cpu_of()
        if n >= self.end:
            self.stop.set()

    def run_timer(self) -> None:
        """Real time: stop after warm-up + window (+ a little); always: the run limit."""
        limit = (REALTIME_WARM_S + self.window_s + 0.3) if not self.lockstep else RUN_LIMIT_S
        timers = [threading.Timer(limit, self.stop.set)]
        if not self.lockstep:  # the node's CPU and drops at the window's ends
            timers += [threading.Timer(at, self._snapshot, (int(at * 1e3),))
                       for at in (REALTIME_WARM_S, REALTIME_WARM_S + self.window_s)]
        for timer in timers:
            timer.daemon = True  # the child exits as soon as its window is measured
            timer.start()

    def _snapshot(self, key: int) -> None:
        self.dropped[key] = sum(self.stats.dropped.values())
        self.reasons[key] = {**self.stats.dropped, "shed": self.stats.fallbacks["shed"]}
        self.own_cpu[key] = time.process_time()
        self.transport_in[key] = len(self.stats.stage_ms.get("transport_in", ()))
        if self.cpu_of is not None:
            self.cpu[key] = self.cpu_of()

    def figures(self) -> dict[str, Any]:
        import numpy as np

        at: list[tuple[float, float, int]] = self.stats.latency_ms.at
        if self.lockstep:
            if len(at) < self.end:
                return {"error": f"window incomplete: {len(at)} of {self.end} answers"}
            window = at[self.warm:self.end]
            seconds = window[-1][0] - at[self.warm - 1][0]
            late = window[-1][2] - at[self.warm - 1][2]
            dropped = None
            cpu_s = (self.cpu[self.end] - self.cpu[self.warm]) if self.cpu else None
            own_s = self.own_cpu[self.end] - self.own_cpu[self.warm]
        else:
            lo, hi = self.t0 + REALTIME_WARM_S, self.t0 + REALTIME_WARM_S + self.window_s
            window = [a for a in at if lo <= a[0] < hi]
            before = [a for a in at if a[0] < lo]
            seconds = self.window_s
            late = (window[-1][2] - (before[-1][2] if before else 0)) if window else 0
            keys = (int(REALTIME_WARM_S * 1e3), int((REALTIME_WARM_S + self.window_s) * 1e3))
            dropped = (self.dropped[keys[1]] - self.dropped[keys[0]]
                       if all(k in self.dropped for k in keys) else None)
            cpu_s = (self.cpu[keys[1]] - self.cpu[keys[0]]
                     if all(k in self.cpu for k in keys) else None)
            own_s = (self.own_cpu[keys[1]] - self.own_cpu[keys[0]]
                     if all(k in self.own_cpu for k in keys) else None)
            in_window = (_diff(self.reasons[keys[1]], self.reasons[keys[0]])
                         if all(k in self.reasons for k in keys) else {})
        if self.lockstep:
            in_window = {}
        lat = np.asarray([a[1] for a in window]) if window else np.zeros(1)
        answered = len(window)
        one_way = self._transport_in_ms()
        return {"answered": answered, "on_time": answered - late, "window_s": seconds,
                "decisions_per_s": answered / seconds,
                "on_time_per_s": (answered - late) / seconds, "late": late,
                "dropped": dropped, "dropped_by_reason": dict(self.stats.dropped),
                # real time: drops by reason and answers shed, in the window
                "window_reasons": in_window,
                "fallbacks": dict(self.stats.fallbacks),
                "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                "max_ms": float(lat.max()),
                # node stamp -> xApp received (wire + queue), ms; real time only
                "transport_in_p50_ms": (float(np.percentile(one_way, 50))
                                        if one_way.size else None),
                "transport_in_p99_ms": (float(np.percentile(one_way, 99))
                                        if one_way.size else None),
                "node_cpu_ms_per_decision": (None if cpu_s is None or not answered
                                             else 1e3 * cpu_s / answered),
                "xapp_cpu_ms_per_decision": (None if own_s is None or not answered
                                             else 1e3 * own_s / answered),
                # the loop's time sending a control (before #18: its round trip), mean ms
                "send_ms": _mean_stage(self.stats, "send")}


    def _transport_in_ms(self) -> Any:
        """The window's ``transport_in`` samples, ms (real time; empty otherwise)."""
        import numpy as np

        keys = (int(REALTIME_WARM_S * 1e3), int((REALTIME_WARM_S + self.window_s) * 1e3))
        if self.lockstep or not all(k in self.transport_in for k in keys):
            return np.zeros(0)
        samples = list(self.stats.stage_ms.get("transport_in", ()))
        return np.asarray(samples[self.transport_in[keys[0]]:self.transport_in[keys[1]]])


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """``after - before`` per key, the keys that changed."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _mean_stage(stats: Any, stage: str) -> float | None:
    samples = stats.stage_ms.get(stage)
    return sum(samples) / len(samples) if samples else None


def _inproc(spec: dict[str, Any]) -> dict[str, Any]:
    from rrm.core.wire.messages import SubscribeMsg
    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.sim.simulator import Simulator
    from rrm.xapp.app import XApp
    from rrm.xapp.config import load_config
    from rrm.xapp.loop import SlotLoop
    from rrm.xapp.transport.inproc import InProcessClient

    period = spec["slot_ms"] / 1e3
    sim = Simulator([build_node(NodeSpec(num_links=K), f"node-{i}", i, period)
                     for i in range(spec["nodes"])], period, lockstep=spec["lockstep"])
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("bench", transaction_id="b"))
    app = XApp(load_config(environ={}, flags={"policy": spec["policy"], "health_port": 0}))
    window = {"batch_window_s": spec["window_ms"] / 1e3} if spec.get("window_ms") else {}
    loop = SlotLoop(client, app.decider, app.metrics, app.health, stats=app.stats, **window)
    _freeze_startup_heap()  # as XApp.run does before its loop
    stop = threading.Event()
    window = Window(spec, app.stats, stop)
    sim.start()
    window.run_timer()
    try:
        loop.run(stop, poll_s=0.05)
    finally:
        sim.stop()
    return window.figures()


def _freeze_startup_heap() -> None:
    """XApp.run's first step, for the loop driven here (absent from trees before #18's
    decode-stage fix, which then run without it, as they shipped)."""
    try:
        from rrm.xapp.heap import freeze_startup_heap
    except ImportError:
        return
    freeze_startup_heap()


def _remote(spec: dict[str, Any]) -> dict[str, Any]:
    from rrm.xapp.app import XApp
    from rrm.xapp.config import load_config

    # no --slots: the node runs until the window is complete and is then terminated
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", spec["transport"],
           "--k", str(K), "--nodes", str(spec["nodes"]), "--slot-ms", str(spec["slot_ms"]),
           "--port", "0", "--pub-port", "0", "--ctl-port", "0", "--log-level", "error"] + (
               ["--lockstep"] if spec["lockstep"] else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = json.loads(proc.stdout.readline())["address"]
        window = {"batch_window_ms": spec["window_ms"]} if spec.get("window_ms") else {}
        cfg = load_config(environ={}, flags={"transport": spec["transport"],
                                             "e2_address": address, "policy": spec["policy"],
                                             "health_port": 0, "log_level": "error", **window})
        app = XApp(cfg)
        stop = threading.Event()
        window = Window(spec, app.stats, stop, cpu_of=lambda: _cpu_s(proc.pid))
        window.run_timer()
        app.run(stop, serve_http=False)
        return window.figures()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_child(tree: str, spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                         capture_output=True, text=True, timeout=300)
    if res.returncode:
        return {"error": res.stderr.strip().splitlines()[-1][:200] if res.stderr else "failed"}
    out: dict[str, Any] = json.loads(res.stdout.splitlines()[-1])
    return out


def closed_loop_grid(transports: tuple[str, ...]) -> list[dict[str, Any]]:
    """Closed-loop rows: gfm at 20 ms slots, 1 and 8 nodes, per transport."""
    return [{"mode": "closed", "transport": t, "nodes": n, "policy": "gfm", "lockstep": False,
             "slot_ms": CLOSED_LOOP_SLOT_MS, "window_s": CLOSED_LOOP_WINDOW_S,
             "offered_per_s": n * 1e3 / CLOSED_LOOP_SLOT_MS}
            for t in transports for n in (1, 8)]


def grid(quick: bool, realtime: tuple[str, ...] | None = None,
         loads: tuple[int, ...] = LOADS,
         policies: tuple[str, ...] = ("gfm", "full-reuse")) -> list[dict[str, Any]]:
    """Lockstep configurations and the real-time sweep (8 nodes, gfm, ``loads``
    indications/s), the issue's headline figures first; ``quick``: 8 nodes only,
    in-process real time only; ``policies``: of the lockstep rows."""
    specs: list[dict[str, Any]] = []

    def lockstep(transport: str, nodes: int, policy: str) -> None:
        # a long slot: lockstep opens the next one as soon as every node answered;
        # a window of at least 50 slots and 400 answers (1-4 s at 100-500/s)
        answers = nodes * max(50, 400 // nodes)
        specs.append({"mode": "lockstep", "transport": transport, "nodes": nodes,
                      "policy": policy, "lockstep": True, "slot_ms": 1000,
                      "answers": answers})

    for transport in ("inproc", "zmq", "grpc"):
        for policy in policies:
            lockstep(transport, 8, policy)
    for transport in realtime or (("inproc",) if quick else ("inproc", "zmq")):
        for load in loads:  # indications/s offered by 8 nodes
            slot_ms = round(8e3 / load, 2)
            specs.append({"mode": "realtime", "transport": transport, "nodes": 8,
                          "policy": "gfm", "lockstep": False, "slot_ms": slot_ms,
                          "offered_per_s": load})
    if not quick:
        for transport in ("inproc", "zmq", "grpc"):
            for nodes in (1, 4, 16):
                for policy in policies:
                    lockstep(transport, nodes, policy)
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree (main at the branch point)")
    parser.add_argument("--quick", action="store_true",
                        help="8 nodes only, in-process real time only")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="stop starting configurations after this many seconds")
    parser.add_argument("--window-ms", type=float, default=0.0,
                        help="also run this tree with this batch_window_ms ('after+window')")
    parser.add_argument("--realtime-transports", default="",
                        help="comma-separated transports of the real-time sweep (default: "
                             "inproc with --quick, else inproc,zmq)")
    parser.add_argument("--lockstep-only", default="",
                        help="only the 8-node lockstep rows of these transports (comma-"
                             "separated), written to throughput_lockstep.md")
    parser.add_argument("--loads", default="",
                        help="comma-separated offered loads of the real-time sweep "
                             f"(indications/s; default {','.join(map(str, LOADS))})")
    parser.add_argument("--lockstep-policies", default="gfm,full-reuse",
                        help="comma-separated policies of the lockstep rows ('': none)")
    parser.add_argument("--stem", default="",
                        help="results file stem under bench/results (default: throughput, "
                             "throughput_lockstep with --lockstep-only)")
    parser.add_argument("--closed-loop", default="",
                        help="only the closed-loop rows (gfm, 20 ms slots, 1 and 8 nodes) of "
                             "these transports (comma-separated), written to closed_loop.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if not args.base:
        parser.error("--base is required")
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    versions = [("before", args.base, 0.0), ("after", str(HERE), 0.0)]
    if args.window_ms:
        versions.append(("after+window", str(HERE), args.window_ms))
    realtime = tuple(t for t in args.realtime_transports.split(",") if t) or None
    loads = tuple(int(x) for x in args.loads.split(",") if x) or LOADS
    specs = grid(args.quick, realtime, loads,
                 tuple(p for p in args.lockstep_policies.split(",") if p))
    if args.lockstep_only:
        keep = args.lockstep_only.split(",")
        specs = [s for s in specs if s["mode"] == "lockstep" and s["nodes"] == 8
                 and s["transport"] in keep]
    if args.closed_loop:
        specs = closed_loop_grid(tuple(args.closed_loop.split(",")))
    for spec in specs:
        if time.perf_counter() - t0 > args.budget_s:
            print(f"time budget spent: {spec} and later not run", file=sys.stderr)
            break
        for version, tree, window_ms in versions:
            load = os.getloadavg()[0]
            row = {**spec, "version": version, "window_ms": window_ms, "load_1min": load,
                   **run_child(tree, {**spec, "window_ms": window_ms})}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    stem = args.stem or ("closed_loop" if args.closed_loop else
                         "throughput_lockstep" if args.lockstep_only else "throughput")
    print(write(rows, time.perf_counter() - t0, stem), end="")


def _fmt(x: Any, spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


def write(rows: list[dict[str, Any]], seconds: float, stem: str = "throughput") -> str:
    """bench/results/throughput.md and .json; returns the markdown."""
    groups = _groups(rows, "lockstep")
    names = [v for v in ("before", "after", "after+window")
             if any(v in g for g in groups.values()) or v != "after+window"]
    window = next((r["window_ms"] for r in rows if r.get("window_ms")), 0)
    loads = [r["load_1min"] for r in rows if "load_1min" in r]
    lines = ["# Slot-loop throughput and overload, before / after", "", machine_line(), "",
             f"K = {K}. Command: `python bench/bench_throughput.py " + " ".join(sys.argv[1:])
             + f"` ({seconds:.0f} s). Before = main at the branch point, after = this branch "
             "(no batching window)"
             + (f", after+window = this branch with batch_window_ms = {window:g}" if window
                else "") + "; alternating per configuration in one run. Machine load (1-min "
             f"load average when each child started): {min(loads, default=0):.1f}-"
             f"{max(loads, default=0):.1f} on {os.cpu_count()} cores.", "",
             "## Lockstep throughput (decisions/s)", "",
             f"Window: the answers after the first {WARM_SLOTS} slots per node (at least 50 "
             "slots and 400 answers). CPU ms per decision over the window: the node process "
             "(remote) and the xApp process (in-process: xApp and node together). Send ms: "
             "the loop's mean `send` stage (before: the control round trip; after: sending "
             "and settling the acks that came).", "",
             "| transport | nodes | policy | " + " | ".join(f"{v} /s" for v in names) + " | "
             + " | ".join(f"p99 ms {v}" for v in names) + " | "
             + " | ".join(f"xApp CPU {v}" for v in names) + " | "
             + " | ".join(f"send ms {v}" for v in names) + " |",
             "|---|---|---|" + "---|" * (4 * len(names))]
    for (t, n, p), g in groups.items():
        cells = [_fmt(g.get(v, {}).get("decisions_per_s")) for v in names]
        cells += [_fmt(g.get(v, {}).get("p99_ms"), ".2f") for v in names]
        cells += [_fmt(g.get(v, {}).get("xapp_cpu_ms_per_decision"), ".2f") for v in names]
        cells += [_fmt(g.get(v, {}).get("send_ms"), ".3f") for v in names]
        lines.append(f"| {t} | {n} | {p} | " + " | ".join(cells) + " |")
    lines += ["", "## Real time, 8 nodes, gfm: on-time decisions/s by offered load", "",
              f"Window: {REALTIME_WINDOW_S:.0f} s after {REALTIME_WARM_S:.0f} s of warm-up. "
              "On-time = answers sent before their deadline (the policy's or, shed, the "
              "cheapest); late = answers sent after it; dropped = indications not answered "
              "(by reason below); shed = on-time or late answers that skipped the policy; "
              "policy/s = answers the policy decided (on time or late) per second; all in the "
              "window. Load = 1-min load average when the run started.", "",
              "| transport | offered/s | " + " | ".join(
                  f"on-time/s {v} | late {v} | dropped {v} | shed {v} | policy/s {v} | load {v}"
                  for v in names) + " |",
              "|---|---|" + "---|" * (6 * len(names))]
    realtime_groups = _groups(rows, "realtime")
    for (t, _n, p), g in realtime_groups.items():
        cells = []
        for v in names:
            r = g.get(v, {})
            cells += [_fmt(r.get("on_time_per_s")), str(r.get("late", "-")),
                      str(r.get("dropped", "-")),
                      str(r.get("window_reasons", {}).get("shed", "-" if not r else 0)),
                      _fmt(_policy_per_s(r)), _fmt(r.get("load_1min"), ".1f")]
        lines.append(f"| {t} | {p} | " + " | ".join(cells) + " |")
    lines += ["", "Dropped in the window by reason:", "",
              "| transport | offered/s | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    for (t, _n, p), g in realtime_groups.items():
        cells = [", ".join(f"{k} {n}" for k, n in sorted(
            g.get(v, {}).get("window_reasons", {}).items()) if k != "shed") or "-"
                 for v in names]
        lines.append(f"| {t} | {p} | " + " | ".join(cells) + " |")
    return save_results(stem, lines + closed_loop_lines(rows, names), rows)


def closed_loop_lines(rows: list[dict[str, Any]], names: list[str]) -> list[str]:
    """The closed-loop table (none without closed-loop rows)."""
    groups = _groups(rows, "closed")
    if not groups:
        return []
    lines = ["", f"## Closed loop, gfm, {CLOSED_LOOP_SLOT_MS:g} ms slots", "",
             f"Window: {CLOSED_LOOP_WINDOW_S:.0f} s after {REALTIME_WARM_S:.0f} s of warm-up. "
             "Latency = the xApp's indication received -> control sent (ms); transport_in = "
             "the node's stamp -> xApp received (wire and queue, ms); node stamp -> control "
             "sent is about their sum. xApp CPU = ms of the xApp process per answer.", "",
             "| transport | nodes | " + " | ".join(
                 f"p50 / p99 / max {v} | transport_in p50 / p99 {v} | answered {v} | "
                 f"late {v} | xApp CPU {v}" for v in names) + " |",
             "|---|---|" + "---|" * (5 * len(names))]
    for (t, n, _), g in groups.items():
        cells = []
        for v in names:
            r = g.get(v, {})
            cells += [f"{_fmt(r.get('p50_ms'), '.2f')} / {_fmt(r.get('p99_ms'), '.2f')} / "
                      f"{_fmt(r.get('max_ms'), '.2f')}",
                      f"{_fmt(r.get('transport_in_p50_ms'), '.2f')} / "
                      f"{_fmt(r.get('transport_in_p99_ms'), '.2f')}",
                      str(r.get("answered", r.get("error", "-"))), str(r.get("late", "-")),
                      _fmt(r.get("xapp_cpu_ms_per_decision"), ".2f")]
        lines.append(f"| {t} | {n} | " + " | ".join(cells) + " |")
    return lines


def _policy_per_s(row: dict[str, Any]) -> float | None:
    """Answers in a real-time window the policy decided (not shed), per second."""
    if "answered" not in row or not row.get("window_s"):
        return None
    shed = row.get("window_reasons", {}).get("shed", 0)
    return float(row["answered"] - shed) / row["window_s"]


def _groups(rows: list[dict[str, Any]], mode: str) -> dict[tuple[Any, ...], dict[str, dict]]:
    out: dict[tuple[Any, ...], dict[str, dict]] = {}
    for r in rows:
        if r["mode"] != mode:
            continue
        key = (r["transport"], r["nodes"],
               r["policy"] if mode == "lockstep" else r.get("offered_per_s"))
        out.setdefault(key, {})[r["version"]] = r
    return out


if __name__ == "__main__":
    main()
