"""Load and soak: N nodes x slot rate against one xApp; where deadlines start to be missed.

The simulator runs as a child process (``rrm sim serve``, real-time slot
clock, gRPC); the xApp runs here with the chosen policy, both ``nice``d on
the same 2-core machine. Each configuration of the sweep runs ``--seconds``
after a warm-up; the figures count from the end of the warm-up:

* offered: indications per second the node sends (nodes / slot period);
* missed: slots not answered in time = answers (controls or refusals, so
  indications refused as already expired too) sent after the deadline +
  indications dropped unread from the full receive queue;
  ``miss %`` = missed / (slots seen + dropped);
* fallbacks by guard, refusals by cause, latency (indication dequeued ->
  control sent) percentiles, and the RSS of the xApp and of the node.

The knee is the first offered load whose miss share exceeds ``--knee-pct``.
Then a soak: the busiest configuration below the knee runs for
``--soak-seconds`` with RSS sampled every second (does memory drift?).
Writes bench/results/soak.md, soak.json and soak.png.
Run: ``nice python bench/bench_soak.py [--policy gfm --k 20 --slot-ms 50
--nodes 1,2,3,4,6,8 --seconds 20 --soak-seconds 120]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

from rrm.xapp.app import XApp  # noqa: E402
from rrm.xapp.config import load_config  # noqa: E402
from rrm.xapp.logs import configure_logging  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
PAGE_MIB = resource.getpagesize() / 2**20


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size of a process, MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_MIB
    except OSError:
        return 0.0


def start_node(k: int, nodes: int, slot_ms: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", "grpc",
           "--k", str(k), "--nodes", str(nodes), "--slot-ms", str(slot_ms), "--port", "0",
           "--log-level", "error"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["address"]


def stop_node(proc: subprocess.Popen[str]) -> dict[str, object]:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return dict(json.loads(out.strip().splitlines()[-1]))


class Snapshot:
    """The xApp's counters at one moment, so that the warm-up can be subtracted."""

    def __init__(self, app: XApp) -> None:
        s = app.stats
        self.slots, self.misses = s.slots, s.deadline_misses
        self.fallbacks = Counter(s.fallbacks)
        self.latency_n = len(s.latency_ms)
        self.policy_n = len(s.stage_ms.get("policy", ()))
        self.wait_n = len(s.stage_ms.get("transport_in", ()))
        self.refusals = _refusals_by_cause(app)
        client = app.loop.client if app.loop is not None else None
        self.dropped = int(getattr(client, "dropped", 0))


def _refusals_by_cause(app: XApp) -> Counter[str]:
    out: Counter[str] = Counter()
    for metric in app.metrics.refusals.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["cause"]] += int(sample.value)
    return out


def run_config(policy: str, k: int, nodes: int, slot_ms: float, seconds: float,
               warmup_s: float, rss_every_s: float) -> dict[str, object]:
    """One configuration: warm up, measure for ``seconds``, stop; the row of figures."""
    proc, address = start_node(k, nodes, slot_ms)
    app = XApp(load_config(environ={}, flags={"e2_address": address, "policy": policy,
                                               "health_port": 0, "log_level": "error"}))
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), kwargs={"serve_http": False})
    runner.start()
    time.sleep(warmup_s)
    start, t0 = Snapshot(app), time.monotonic()
    rss: list[tuple[float, float, float]] = []
    while (elapsed := time.monotonic() - t0) < seconds:
        rss.append((round(elapsed, 2), rss_mib(), rss_mib(proc.pid)))
        time.sleep(min(rss_every_s, max(seconds - elapsed, 0.0)))
    end, wall = Snapshot(app), time.monotonic() - t0
    stop.set()
    runner.join(timeout=30)
    node = stop_node(proc)
    return figures(app, start, end, wall, nodes, slot_ms, k, policy) | {
        "rss_mib": rss, "node_counters": node.get("counters", {})}


def figures(app: XApp, a: Snapshot, b: Snapshot, wall: float, nodes: int, slot_ms: float,
            k: int, policy: str) -> dict[str, object]:
    s = app.stats
    lat = np.asarray(list(s.latency_ms)[a.latency_n:b.latency_n] or [np.nan])
    pol = np.asarray(list(s.stage_ms.get("policy", []))[a.policy_n:b.policy_n] or [np.nan])
    wait = np.asarray(list(s.stage_ms.get("transport_in", []))[a.wait_n:b.wait_n] or [np.nan])
    slots, dropped = b.slots - a.slots, b.dropped - a.dropped
    refusals = b.refusals - a.refusals
    missed = (b.misses - a.misses) + dropped  # an expired refusal is itself sent late
    pct = {f"p{q}_ms": round(float(np.percentile(lat, q)), 3) for q in (50, 95, 99)}
    return {"policy": policy, "K": k, "nodes": nodes, "slot_ms": slot_ms,
            "offered_per_s": round(nodes * 1000.0 / slot_ms, 1), "seconds": round(wall, 1),
            "handled_per_s": round(slots / wall, 1), "slots": slots, "dropped": dropped,
            "deadline_misses": b.misses - a.misses, "missed": missed,
            "miss_pct": round(100.0 * missed / max(slots + dropped, 1), 3),
            "fallbacks": dict(b.fallbacks - a.fallbacks), "refusals": dict(refusals),
            **pct, "max_ms": round(float(np.max(lat)), 3),
            "wait_p50_ms": round(float(np.percentile(wait, 50)), 3),
            "wait_p99_ms": round(float(np.percentile(wait, 99)), 3),
            "policy_p50_ms": round(float(np.percentile(pol, 50)), 3),
            "policy_p99_ms": round(float(np.percentile(pol, 99)), 3)}


def best_of_repeats(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per offered load, the repeat with the fewest misses.

    Other jobs on the shared machine can only add misses, so the best repeat
    is the closest estimate of what the xApp itself sustains.
    """
    best: dict[float, dict[str, object]] = {}
    for r in rows:
        load = float(r["offered_per_s"])  # type: ignore[arg-type]
        if load not in best or float(r["miss_pct"]) < float(best[load]["miss_pct"]):  # type: ignore[arg-type]
            best[load] = r
    return [best[k] for k in sorted(best)]


def knee(rows: list[dict[str, object]], limit_pct: float) -> dict[str, object] | None:
    """The lowest offered load whose best repeat misses more than ``limit_pct`` %."""
    return next((r for r in best_of_repeats(rows)
                 if float(r["miss_pct"]) > limit_pct), None)  # type: ignore[arg-type]


def _fmt(d: object) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(dict(d).items())) or "none"  # type: ignore[call-overload]


def write_report(out: Path, result: dict[str, object]) -> None:
    """soak.md (+ .json, + .png when matplotlib is there)."""
    out.mkdir(exist_ok=True)
    rows, soak, bad = result["rows"], result["soak"], result["knee"]
    m, a = result["machine"], result["args"]
    assert isinstance(rows, list) and isinstance(m, dict) and isinstance(a, dict)
    lines = ["# Load and soak: nodes x slot rate against one xApp", "",
             f"Machine: {m['cpu']}, {m['cores']} cores (node and xApp share them, and other "
             f"jobs were running: `nice`d), Python {m['python']}, {m['date']}.",
             f"Policy `{a['policy']}`, K = {a['k']}, slot {a['slot_ms']} ms, gRPC, node in a "
             f"child process (real-time clock), {a['seconds']} s per row after "
             f"{a['warmup']} s warm-up. Missed = answered after the deadline (`late`, of which "
             f"`expired` were refused at once as already past it) + dropped unread; latency: "
             f"indication dequeued -> control sent. All nodes publish at each slot boundary, "
             f"so the xApp serves a burst of `nodes` indications per slot.", "",
             "| nodes | sweep | offered/s | handled/s | miss % | late | expired | dropped | p50 ms "
             "| p95 ms | p99 ms | max ms | queue wait p50/p99 ms | policy p99 ms | fallbacks "
             "| xApp RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["offered_per_s"], r.get("repeat", 0))):
        rss = [x[1] for x in r["rss_mib"]]
        lines.append(
            f"| {r['nodes']} | {r.get('repeat', 0) + 1} | {r['offered_per_s']} | "
            f"{r['handled_per_s']} | {r['miss_pct']} | "
            f"{r['deadline_misses']} | {r['refusals'].get('timer_expired', 0)} | {r['dropped']} "
            f"| {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | "
            f"{r.get('wait_p50_ms', '')}/{r.get('wait_p99_ms', '')} | {r['policy_p99_ms']} | "
            f"{_fmt(r['fallbacks'])} | {min(rss):.0f}-{max(rss):.0f} |")
    lines.append("")
    if isinstance(bad, dict):
        ok = [r for r in best_of_repeats(rows)
              if float(r["offered_per_s"]) < float(bad["offered_per_s"])]  # type: ignore[arg-type]
        last = f"{ok[-1]['offered_per_s']}/s ({ok[-1]['nodes']} nodes)" if ok else "none"
        lines.append(f"**Knee**: deadlines start to be missed (> {a['knee_pct']} %) at "
                     f"{bad['offered_per_s']} indications/s ({bad['nodes']} nodes, "
                     f"{bad['miss_pct']} % missed in its best sweep); last load without: "
                     f"{last}. The knee is judged on the best of the sweeps at each load "
                     f"(other jobs can only add misses).")
    else:
        lines.append(f"**Knee**: not reached in this sweep (every row <= {a['knee_pct']} %).")
    if isinstance(soak, dict):
        trend = np.array([x[1] for x in soak["rss_mib"]])
        n = max(len(trend) // 10, 1)
        lines += ["", f"**Soak**: {soak['nodes']} nodes x {soak['offered_per_s']}/s for "
                  f"{soak['seconds']} s: {soak['slots']} slots, {soak['miss_pct']} % missed, "
                  f"p99 {soak['p99_ms']} ms, fallbacks {_fmt(soak['fallbacks'])}, refusals "
                  f"{_fmt(soak['refusals'])}. xApp RSS first 10 %: {trend[:n].mean():.1f} MiB, "
                  f"last 10 %: {trend[-n:].mean():.1f} MiB (max {trend.max():.1f}); node RSS "
                  f"max "
                  f"{max(x[2] for x in soak['rss_mib']):.1f} MiB."]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    (out / "soak.json").write_text(json.dumps(result, indent=1))
    _plot(out / "soak.png", rows, soak if isinstance(soak, dict) else None)
    print("\n".join(lines))


def _plot(path: Path, rows: list[dict], soak: dict | None) -> None:  # type: ignore[type-arg]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    rows = best_of_repeats(rows)
    load = [r["offered_per_s"] for r in rows]
    ax1.plot(load, [r["miss_pct"] for r in rows], "o-", label="missed %")
    ax1.set_xlabel("offered indications / s")
    ax1.set_ylabel("missed %")
    twin = ax1.twinx()
    twin.plot(load, [r.get("wait_p99_ms", np.nan) for r in rows], "s--", color="tab:red")
    twin.set_ylabel("p99 queue wait (node -> dequeued), ms", color="tab:red")
    ax1.set_title("load sweep")
    if soak is not None:
        t = [x[0] for x in soak["rss_mib"]]
        ax2.plot(t, [x[1] for x in soak["rss_mib"]], label="xApp")
        ax2.plot(t, [x[2] for x in soak["rss_mib"]], label="node")
        ax2.set_xlabel("s")
        ax2.set_ylabel("RSS, MiB")
        ax2.legend()
        ax2.set_title(f"soak: {soak['nodes']} nodes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="gfm")
    parser.add_argument("--k", type=int, default=20)
        # 50 ms: the slot of the ergodic scenario (graph diffusion paper, section 3)
    parser.add_argument("--slot-ms", type=float, default=50.0)
    parser.add_argument("--nodes", default="1,2,3,4,6,8", help="comma-separated sweep")
    parser.add_argument("--seconds", type=float, default=20.0, help="per configuration")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--knee-pct", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2, help="sweeps (noise of a shared box)")
    args = parser.parse_args()
    configure_logging("error")
    os.nice(5)  # the child node inherits it
    rows = []
    for rep in range(args.repeat):
        for nodes in (int(n) for n in args.nodes.split(",")):
            row = run_config(args.policy, args.k, nodes, args.slot_ms, args.seconds,
                             args.warmup, 1.0) | {"repeat": rep}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "rss_mib"}), flush=True)
    first_bad = knee(rows, args.knee_pct)
    below = [r for r in best_of_repeats(rows)
             if float(r["miss_pct"]) <= args.knee_pct  # type: ignore[arg-type]
             and (first_bad is None or r["offered_per_s"] < first_bad["offered_per_s"])]  # type: ignore[operator]
    soak = None
    if below and args.soak_seconds > 0:
        busiest = max(below, key=lambda r: float(r["offered_per_s"]))  # type: ignore[arg-type]
        soak = run_config(args.policy, args.k, int(busiest["nodes"]),  # type: ignore[call-overload]
                          args.slot_ms, args.soak_seconds, args.warmup, 1.0)
        print(json.dumps({k: v for k, v in soak.items() if k != "rss_mib"}), flush=True)
    write_report(OUT, {"machine": machine_info(), "args": vars(args), "rows": rows,
                       "knee": first_bad, "soak": soak})


if __name__ == "__main__":
    main()
