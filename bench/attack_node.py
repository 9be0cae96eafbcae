"""The simulator node under a hostile xApp at full size (issue #19 items 9-10).

For each transport, a node runs in its own process (`rrm sim serve`) and a
well-behaved xApp (subscribe, read every indication, answer each one within
its deadline) measures its accepted controls/s, first alone, then while the
attacker (tests/sim/attacker_node.py, raw stubs) either

* holds ``--held`` subscriptions (never reading them), or
* opens ``--abandoned`` subscriptions on a K = ``--big-k`` node, reads the ack and
  abandons them (connection kept, nothing read) for ``--abandon-s`` seconds, or
* (``huge_shape``, item 11) sends one control whose power tensor declares a
  ``--huge-dims``-dimension shape (20 M: a 20 MB message), and the node's longest
  log line, its CPU for that control and the ack are recorded.

Node RSS is sampled from /proc. Writes bench/results/attack_node.md/.json.

    OMP_NUM_THREADS=1 python bench/attack_node.py            # full sizes (~5 min)
    OMP_NUM_THREADS=1 python bench/attack_node.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine_line, save_results  # noqa: E402
from rrm.core.wire import e2_pb2 as pb  # noqa: E402
from tests.sim.attacker_node import (  # noqa: E402
    GrpcAttacker,
    ZmqAttacker,
    control_request,
    modest_power,
)

SLOT_MS = 20.0  # 50 slots/s: the baseline of 50 accepted controls/s
BIG_SLOT_MS = 100.0  # K = 400 slots: what one node process produces on this CPU


class Node:
    """`rrm sim serve` in a child process; its address from the first JSON line."""

    def __init__(self, transport: str, k: int, slot_ms: float,
                 log: Any = None) -> None:
        cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", transport,
               "--k", str(k), "--slot-ms", str(slot_ms), "--port", "0", "--pub-port", "0",
               "--ctl-port", "0", "--log-level", "error" if log is None else "warning"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                     cwd=REPO)
        assert self.proc.stdout is not None
        serving = json.loads(self.proc.stdout.readline())
        self.transport = transport
        host, *ports = serving["address"].split(":")  # host:port or host:pub:ctl
        self.host, self.ports = host, [int(p) for p in ports]

    def client(self, peers: int = 1) -> GrpcAttacker | ZmqAttacker:
        return _client(self.transport, self.host, self.ports, peers)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the node process has used so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _client(transport: str, host: str, ports: list[int],
            peers: int) -> GrpcAttacker | ZmqAttacker:
    if transport == "grpc":
        return GrpcAttacker(f"{host}:{ports[0]}", peers)
    return ZmqAttacker(host, ports[0], ports[1], peers)


class Victim(threading.Thread):
    """The well-behaved xApp: counts accepted controls per second window."""

    def __init__(self, node: Node) -> None:
        super().__init__(daemon=True)
        self.peer = node.client()
        if isinstance(self.peer, GrpcAttacker):
            first, stream = self.peer.subscribe(timeout_s=3600.0)
            self.next = lambda: next(stream).indication
        else:
            first = self.peer.subscribe()
            self.next = lambda: self.peer.next_indication(2.0)  # type: ignore[union-attr]
        assert first.HasField("ack"), first
        self.accepted = 0
        self.received = 0  # indications read
        self.last_seq = 0  # the node's sequence number: one per slot it ran
        self.timeouts = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                ind = self.next()
            except (StopIteration, grpc.RpcError):  # the node stopped at the end of a run
                return
            if ind is None:
                continue
            self.received += 1
            self.last_seq = ind.header.sequence_number
            try:
                ack = self.peer.control(control_request(ind.header, modest_power(ind)),
                                        timeout_s=2.0)
            except Exception:  # noqa: BLE001 - a deadline exceeded is a measured miss
                ack = None
            if ack is None:
                self.timeouts += 1
            elif ack.outcome == pb.OUTCOME_ACCEPTED:
                self.accepted += 1

    def rate(self, seconds: float) -> float:
        start = self.accepted
        time.sleep(seconds)
        return (self.accepted - start) / seconds

    def mark(self) -> tuple[float, int, int]:
        """(time, indications read, the node's last sequence number) now."""
        return time.monotonic(), self.received, self.last_seq


def _rates(start: tuple[float, int, int], end: tuple[float, int, int]) -> tuple[float, float]:
    """(slots the node ran per s, indications the victim read per s) between two marks."""
    seconds = end[0] - start[0]
    return (end[2] - start[2]) / seconds, (end[1] - start[1]) / seconds


def _open(attacker: GrpcAttacker | ZmqAttacker, count: int) -> tuple[int, int]:
    """Open ``count`` subscriptions spread over the attacker's peers: (admitted, refused)."""
    admitted = refused = 0
    for i in range(count):
        if isinstance(attacker, GrpcAttacker):
            first, _ = attacker.subscribe(i % len(attacker.stubs), timeout_s=3600.0)
        else:
            first = attacker.subscribe(peer=i % len(attacker.dealers))
        admitted += first.HasField("ack")
        refused += first.HasField("failure") and first.failure.cause == pb.CAUSE_OVERLOAD
    return admitted, refused


def _attacker_process(transport: str, host: str, ports: list[int], count: int,
                      conn: Connection) -> None:
    """The attacker in its own process: open ``count`` subscriptions, report, hold them
    (nothing read) until told to stop."""
    attacker = _client(transport, host, ports, max(1, count // 10))
    t0 = time.monotonic()
    admitted, refused = _open(attacker, count)
    conn.send((admitted, refused, time.monotonic() - t0))
    conn.recv()
    attacker.close()


class Attacker:
    """The attacker's subscriptions, opened in this process or in a child process.

    In this process, the attacker's ZeroMQ SUB socket (its I/O thread pulling every
    admitted subscription's indications) shares the bench process with the victim."""

    def __init__(self, node: Node, count: int, where: str) -> None:
        self.child: Any = None
        t0 = time.monotonic()
        if where == "thread":
            self.local = node.client(peers=max(1, count // 10))
            self.admitted, self.refused = _open(self.local, count)
            self.open_s = time.monotonic() - t0
            return
        self.conn, child_conn = mp.get_context("spawn").Pipe()
        self.child = mp.get_context("spawn").Process(
            target=_attacker_process, daemon=True,
            args=(node.transport, node.host, node.ports, count, child_conn))
        self.child.start()
        self.admitted, self.refused, self.open_s = self.conn.recv()

    def close(self) -> None:
        if self.child is None:
            self.local.close()
            return
        self.conn.send("stop")
        self.child.join(10)
        if self.child.is_alive():
            self.child.kill()


def attack(transport: str, k: int, count: int, window_s: float, hold_s: float,
           kind: str, slot_ms: float, where: str = "process") -> dict[str, Any]:
    """One attack on a fresh node; the victim's rates and the node's RSS."""
    node = Node(transport, k, slot_ms)
    try:
        victim = Victim(node)
        victim.start()
        time.sleep(1.0)
        rss0 = node.rss_mib()
        cpu0, t0, mark0 = node.cpu_s(), time.monotonic(), victim.mark()
        before = victim.rate(window_s)
        cpu_before = (node.cpu_s() - cpu0) / (time.monotonic() - t0)
        slots_before, read_before = _rates(mark0, victim.mark())
        attacker = Attacker(node, count, where)
        admitted, refused, open_s = attacker.admitted, attacker.refused, attacker.open_s
        rss_peak, rates = node.rss_mib(), []
        cpu0, t0, mark0 = node.cpu_s(), time.monotonic(), victim.mark()
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            rates.append(victim.rate(min(window_s, end - time.monotonic())))
            rss_peak = max(rss_peak, node.rss_mib())
        during = sum(rates) / max(1, len(rates))
        cpu_during = (node.cpu_s() - cpu0) / (time.monotonic() - t0)
        slots_during, read_during = _rates(mark0, victim.mark())
        row = {"transport": transport, "attack": kind, "attacker": where, "k": k,
               "slot_ms": slot_ms,
               "subscriptions": count,
               "admitted": admitted, "refused_overload": refused, "open_s": round(open_s, 2),
               "controls_per_s_before": round(before, 1),
               "controls_per_s_during": round(during, 1),
               "kept": round(during / before, 3) if before else None,
               "control_timeouts": victim.timeouts,
               "node_slots_per_s_before": round(slots_before, 2),
               "node_slots_per_s_during": round(slots_during, 2),
               "read_per_s_before": round(read_before, 2),
               "read_per_s_during": round(read_during, 2),
               "node_cpu_before": round(cpu_before, 3), "node_cpu_during": round(cpu_during, 3),
               "node_rss_mib_start": round(rss0, 1), "node_rss_mib_peak": round(rss_peak, 1),
               "node_rss_mib_end": round(node.rss_mib(), 1)}
        victim.stopped.set()
        attacker.close()
        return row
    finally:
        node.stop()


def huge_shape(transport: str, dims: int) -> dict[str, Any]:
    """One control with a ``dims``-dimension power shape; the node's answer, CPU, log size."""
    with tempfile.TemporaryFile("w+") as log:
        node = Node(transport, 20, SLOT_MS, log)
        try:
            victim = Victim(node)
            while (ind := victim.next()) is None:  # ZeroMQ: None after 2 s without one
                pass
            huge = pb.Tensor(shape=[1] * dims, dtype=pb.DTYPE_FLOAT64, data=b"")
            request = control_request(ind.header, huge)
            cpu0, t0 = node.cpu_s(), time.monotonic()
            ack = victim.peer.control(request, timeout_s=30.0)
            elapsed, cpu = time.monotonic() - t0, node.cpu_s() - cpu0
            victim.peer.close()
        finally:
            node.stop()
        log.seek(0)
        lines = log.read().splitlines()
    return {"transport": transport, "dims": dims, "message_mb": round(request.ByteSize() / 1e6, 1),
            "outcome": pb.Outcome.Name(ack.outcome) if ack else "no ack",
            "cause": pb.Cause.Name(ack.cause) if ack else "-",
            "detail_chars": len(ack.detail) if ack else 0, "reply_s": round(elapsed, 2),
            "node_cpu_s": round(cpu, 2), "node_log_lines": len(lines),
            "longest_log_line": max((len(line) for line in lines), default=0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--held", type=int, default=500)
    p.add_argument("--abandoned", type=int, default=400)
    p.add_argument("--big-k", type=int, default=400)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--window-s", type=float, default=8.0)
    p.add_argument("--abandon-s", type=float, default=45.0,
                   help="how long abandoned streams are watched (node idle timeout: 30 s)")
    p.add_argument("--transports", default="grpc,zmq")
    p.add_argument("--kinds", default="held,abandoned,huge_shape")
    p.add_argument("--huge-dims", type=int, default=20_000_000,
                   help="dimensions of the huge_shape control (issue: 20 million)")
    p.add_argument("--attacker", default="process",
                   help="where the attacker runs: 'process' (its own), 'thread' (the bench's, "
                        "beside the victim), or both comma-separated")
    p.add_argument("--quick", action="store_true", help="small sizes, short windows")
    p.add_argument("--out", default="attack_node",
                   help="results name under bench/results (a partial run keeps the full table)")
    a = p.parse_args()
    if a.quick:
        a.held, a.abandoned, a.big_k, a.window_s, a.abandon_s = 40, 40, 100, 2.0, 4.0
        a.huge_dims = 500_000
    rows, shape_rows = [], []
    plans = {"held": (a.k, a.held, 2 * a.window_s, SLOT_MS),
             "abandoned": (a.big_k, a.abandoned, a.abandon_s, BIG_SLOT_MS)}
    for transport in a.transports.split(","):
        for kind in a.kinds.split(","):
            if kind == "huge_shape":
                shape_rows.append(huge_shape(transport, a.huge_dims))
                print(json.dumps(shape_rows[-1]), flush=True)
                continue
            k, count, hold_s, slot_ms = plans[kind]
            for where in a.attacker.split(","):
                rows.append(attack(transport, k, count, a.window_s, hold_s, kind, slot_ms,
                                   where))
                print(json.dumps(rows[-1]), flush=True)
    cols = ["transport", "attack", "attacker", "k", "slot_ms", "subscriptions", "admitted",
            "refused_overload",
            "controls_per_s_before", "controls_per_s_during", "kept", "control_timeouts",
            "node_slots_per_s_before", "node_slots_per_s_during", "read_per_s_before",
            "read_per_s_during", "node_cpu_before", "node_cpu_during",
            "node_rss_mib_start", "node_rss_mib_peak", "node_rss_mib_end"]
    lines = ["# The node under a hostile xApp (issue #19 items 9-10)", "",
             machine_line() + " The shared 2-core CPU; node, victim and attacker on it "
             "(the attacker in its own process unless `attacker` says `thread`).",
             "", "Command: `" + " ".join(["OMP_NUM_THREADS=1 python bench/attack_node.py",
                                          *sys.argv[1:]]) + "`",
             "Node limits: the defaults of `rrm sim serve` (8 subscriptions, 2 per peer; "
             "idle timeout 30 s). `kept` = accepted controls/s of the well-behaved xApp "
             "during the attack / before it; `node_cpu_*`: the node process's CPU, "
             "cores (user + system), before and during the attack; `node_slots_per_s_*`: "
             "slots the node ran (its sequence numbers, as the victim read them); "
             "`read_per_s_*`: indications the victim read.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    if shape_rows:
        shape_cols = list(shape_rows[0])
        lines += ["", "One control with a huge power shape (item 11): the node's reply, its CPU "
                  "for that control and its log (level warning) during the run.", "",
                  "| " + " | ".join(shape_cols) + " |", "|" + "---|" * len(shape_cols)]
        lines += ["| " + " | ".join(str(r[c]) for c in shape_cols) + " |" for r in shape_rows]
    print(save_results(a.out, lines, rows + shape_rows))


if __name__ == "__main__":
    main()
