"""Issue #19 xApp attacks at full size: a hostile E2 node against a real `rrm xapp run` process.

The node is tests/xapp/attacker.py (built on the generated stubs alone). Each
attack runs a fresh xApp subprocess (`rrm xapp run --json`), waits until the
node has sent everything and the xApp has gone quiet, reads the xApp's peak
RSS (VmHWM), stops it with SIGINT and records: crash (exit code other than
0), hang (no exit within 15 s of SIGINT), indications answered twice (the
node counts controls per channel/node/sequence number), what the summary
counts as dropped, and whether every indication was answered or counted.

    OMP_NUM_THREADS=1 python bench/attack_xapp.py            # full sizes (~5 min)
    OMP_NUM_THREADS=1 python bench/attack_xapp.py --quick    # reduced sizes
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.wire import e2_pb2 as pb  # noqa: E402
from tests.xapp import attacker  # noqa: E402
from tests.xapp.attacker import Script, d2d, hostile_node  # noqa: E402

CHART_LIMIT_MIB = 2048  # charts/: resources.limits.memory of the xApp
BUSY_CORES = 0.2  # an xApp using more CPU than this is still working through what it got


def _rss_mib(pid: int, key: str = "VmHWM") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def run_attack(name: str, transport: str, script: Script, sent: int,
               settle_s: float = 1.5, timeout_s: float = 120.0,
               hold_s: float = 0.0) -> dict[str, Any]:
    """One attack against a fresh xApp process; the row of the results table."""
    node = hostile_node(transport, script)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "RRM_RECONNECT_INITIAL_S": "0.1", "RRM_RECONNECT_MAX_S": "1.0"}
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "rrm", "xapp", "run", "--transport", transport,
           "--e2-address", node.address, "--health-port", "0", "--log-level", "error", "--json"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    last, quiet_since, cpu = -1, time.monotonic(), 0.0
    subscribed_at: float | None = None  # when the xApp's first subscribe reached the node
    try:
        while time.monotonic() - t0 < timeout_s and proc.poll() is None:
            time.sleep(0.2)
            total, cpu_was, cpu = sum(node.tally.controls.values()), cpu, _cpu_s(proc.pid)
            # quiet: no new control and the xApp idle (a flood dropped as expired sends no
            # control, but the xApp is still reading it; stopping then loses what is in flight)
            if total != last or cpu - cpu_was > BUSY_CORES * 0.2:
                last, quiet_since = total, time.monotonic()
            if subscribed_at is None and node.tally.subscriptions:
                subscribed_at = time.monotonic()  # a held attack counts from here, not the start
            held = subscribed_at is not None and time.monotonic() - subscribed_at > hold_s
            done = node.tally.finished.is_set() or hold_s and held
            if done and time.monotonic() - quiet_since > settle_s:
                break
        peak = _rss_mib(proc.pid)
        crashed = proc.poll() is not None
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=15)
            hung = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            hung = True
    finally:
        node.close()
    summary: dict[str, Any] = {}
    lines = [ln for ln in (out or "").strip().splitlines() if ln.startswith("{")]
    if lines:
        summary = json.loads(lines[-1])
    dropped = summary.get("dropped", {})
    answered = summary.get("slots", 0)
    return {"attack": name, "transport": transport, "sent": sent,
            "answered": answered, "dropped": dropped,
            "accounted": answered + sum(v for k, v in dropped.items()
                                        if not k.startswith(NOT_INDICATIONS)),
            "published": node.tally.sent, "unheard": node.tally.unheard,
            "answered_twice": node.tally.answered_twice,
            "subscriptions": node.tally.subscriptions,
            "crash": crashed or proc.returncode not in (0, None) and not hung,
            "hang": hung, "exit": proc.returncode, "peak_rss_mib": round(peak, 1),
            "wall_s": round(time.monotonic() - t0, 1),
            "stderr_tail": Path(log.name).read_text()[-300:]}


AckFn = Callable[[pb.ControlRequest], pb.ControlAck]
NOT_INDICATIONS = ("ack_", "utility_")  # dropped acks / utilities: not indications lost


def _acks_with(mutate: Callable[[pb.ControlAck], None]) -> AckFn:
    def ack(req: pb.ControlRequest) -> pb.ControlAck:
        a = attacker.honest_ack(req)
        mutate(a)
        return a
    return ack


def _big_d2d(seq: int, k: int) -> pb.Indication:
    """A d2d indication of K links near the 64 MiB limit (K=2800: 62.7 MB of gains)."""
    return d2d("n0", seq, k=k)


def attacks(quick: bool) -> list[tuple[str, str, Script, int, dict[str, float]]]:
    """(name, transport, script, indications sent, run_attack options)."""
    n = 200 if quick else 1000
    flood = 2000 if quick else 20000
    big_k, big_n = (800, 10) if quick else (2800, 70)
    fillers = 600 if quick else 6000
    seq_top = (1 << 64) - 1

    def seqs(count: int, start: int = 1) -> Callable[[], list[pb.Indication]]:
        return lambda: [d2d("n0", s) for s in range(start, start + count)]

    def channel_attack() -> list[pb.Indication]:
        real = [d2d("n0", s) for s in range(1, 11)]
        same = [d2d("n0", 11, channel=f"cid-{i}") for i in range(50)]
        fill = [d2d("n0", 1000 + i, channel=f"filler-{i}") for i in range(fillers)]
        # to the top in steps under 2^63 (each newer by the RFC 1982 rule), then across it
        wrap = [d2d("n0", s) for s in (1 << 63, seq_top - 1, seq_top, 0, 1, 2)]
        return [*real, *same, *fill, *real, *wrap]

    def big() -> Any:
        # one message, its header renumbered in place (each is serialised when sent):
        # building 70 such messages would cost the attacker 4 GiB and minutes
        ind = _big_d2d(1, big_k)
        for s in range(1, big_n + 1):
            ind.header.sequence_number = ind.header.slot = s
            ind.header.deadline_ns = time.time_ns() + 10**9
            yield ind

    unknown = _acks_with(lambda a: a.rates.CopyFrom(attacker.unknown_dtype_rates()))
    overflow = _acks_with(lambda a: a.rates.CopyFrom(attacker.overflowing_shape_rates()))
    nan = _acks_with(lambda a: setattr(a, "utility", float("nan")))
    out: list[tuple[str, str, Script, int, dict[str, float]]] = []
    for t in ("grpc", "zmq"):
        out += [
            ("ack: unknown rates dtype", t, Script(indications=seqs(n), control_ack=unknown,
                                                   period_s=0.002), n, {}),
            ("ack: overflowing rates shape", t, Script(indications=seqs(n), control_ack=overflow,
                                                       period_s=0.002), n, {}),
            ("ack: NaN utility", t, Script(indications=seqs(n), control_ack=nan,
                                           period_s=0.002), n, {}),
            ("cell-free B=100 K=400 M=4, then 500 slots", t,
             Script(indications=lambda: [attacker.cellfree("n0", 1, 100, 400, 4),
                                         *(d2d("n0", s) for s in range(2, 502))],
                    period_s=0.005), 501, {}),
            (f"{big_n} indications of K={big_k} ({big_k**2 * 8 / 2**20:.0f} MiB)", t,
             Script(indications=big), big_n, {"timeout_s": 240.0}),
            (f"one (node, seq) on 50 channel ids, {fillers} filler channels, replay, wrap", t,
             Script(indications=channel_attack, period_s=0.0002), 10 + 50 + fillers + 16, {}),
            (f"flood of {flood}", t, Script(indications=seqs(flood)), flood, {}),
        ]
    out.append(("subscription never acked (8 s, then SIGINT)", "grpc",
                Script(ack=lambda r: None), 0, {"hold_s": 8.0}))
    out.append(("acked, then silent (12 s)", "grpc", Script(), 0, {"hold_s": 12.0}))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="reduced sizes")
    p.add_argument("--only", default="", help="run attacks whose name contains this")
    p.add_argument("--skip", default="",
                   help="leave out attacks whose name contains this (e.g. K=2800, run apart)")
    p.add_argument("--transports", default="grpc,zmq")
    p.add_argument("--out", default="attack_xapp",
                   help="results name under bench/results (a partial run keeps the full table)")
    args = p.parse_args()
    rows = []
    for name, transport, script, sent, opts in attacks(args.quick):
        if args.only and args.only not in name or transport not in args.transports.split(","):
            continue
        if args.skip and args.skip in name:
            continue
        row = run_attack(name, transport, script, sent, **opts)  # type: ignore[arg-type]
        print(json.dumps({k: v for k, v in row.items() if k != "stderr_tail"}), flush=True)
        rows.append(row)
    lines = [f"# xApp under attack (issue #19 items 1-7){' - reduced sizes' if args.quick else ''}",
             "", machine_line(), "",
             "Command: `" + " ".join(["OMP_NUM_THREADS=1 python bench/attack_xapp.py",
                                      *sys.argv[1:]]) + "`. Peak RSS is the xApp process's VmHWM; "
             f"the chart's limit is {CHART_LIMIT_MIB} MiB.", "",
             "`accounted` = answered + indications dropped and counted (acks and utilities "
             "dropped are counted too, but are not indications). `published`: what the node "
             "sent over all subscriptions; `unheard` (ZeroMQ): published while no SUB filter "
             "matched its topic, so sent to no socket (the node's XPUB (un)subscription "
             "messages).", "",
             "| attack | transport | sent | published | unheard | answered | dropped (counted) "
             "| accounted | answered twice | subscriptions | crash | hang | peak RSS MiB | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(r["dropped"].items())) or "-"
        lines.append(f"| {r['attack']} | {r['transport']} | {r['sent']} | {r['published']} | "
                     f"{r['unheard']} | {r['answered']} | "
                     f"{dropped} | {r['accounted']} | {r['answered_twice']} | "
                     f"{r['subscriptions']} | "
                     f"{r['crash']} | {r['hang']} | {r['peak_rss_mib']} | {r['wall_s']} |")
    print(save_results(args.out, lines, rows))


if __name__ == "__main__":
    main()
