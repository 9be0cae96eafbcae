"""The simulator's CPU per slot (node side of the E2 contract), before and after, one run.

``inproc``: what one ``rrm sim serve`` does for every slot, without sockets: open the
slot on every node and queue its indication (:meth:`Simulator._publish_slot`),
hand each subscriber its copy as the servers send it (a serialized
``SubscriptionEvent``: the feed's ``get_event`` where the tree has it), parse,
decode and apply one control per node (with the tree's node-side decoder where it
has one, as its servers do) and serialize its ack, close the slot.
The xApp's share (building the controls) is done outside the timed region.
8 nodes x K = 50, one subscription (and a second with ``--subscribers 2``).
Thread CPU time of that one thread.

``grpc`` / ``zmq``: a real node (``Simulator`` in lockstep behind
``create_grpc_server`` / ``create_zmq_server`` on loopback) served to one
subscriber in another process (``rrm.xapp.transport.connect``, a fixed
power control per indication); the node process's CPU time (every thread:
slot clock, server, sockets) over the measured slots, per slot, and the
busiest threads' share of it (from ``/proc``: gRPC's polling thread and
workers, the ZeroMQ server and I/O threads, the slot clock).

Every tree runs in a child process (``--child``) whose PYTHONPATH picks it,
alternating, so the base tree and this one are compared in one run.

Run: ``python bench/bench_sim_slot.py --base /work/w3-i18-base --transports inproc grpc zmq``.
Writes bench/results/sim_slot.md (+ .json), or ``--stem NAME``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, run_in_tree, save_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


def child(nodes: int, k: int, slots: int, subscribers: int) -> dict[str, float]:
    """Median and p90 node CPU per slot (ms) over ``slots`` slots, in this process."""
    import numpy as np

    from rrm.core.types import PowerAllocation
    from rrm.core.wire import e2_pb2 as pb
    from rrm.core.wire.codec import (
        decode_control,
        encode_ack,
        encode_control,
        header_from_pb,
        parse,
    )
    from rrm.core.wire.messages import ControlMsg, SubscribeMsg
    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.sim.simulator import Simulator

    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 1.0)
                     for i in range(nodes)], 1.0, lockstep=True)
    feeds = [sim.subscribe(SubscribeMsg("bench", transaction_id=f"t{s}")).feed  # type: ignore
             for s in range(subscribers)]
    events, decode, ack_wire = _server_path(decode_control, encode_ack)
    power = PowerAllocation(np.full(k, 0.5e-3))
    per_slot: list[float] = []
    for _ in range(slots):
        t0 = time.thread_time()
        sim._publish_slot()
        sent = [events(f) for f in feeds]
        t1 = time.thread_time()
        controls = [encode_control(ControlMsg(header_from_pb(
            pb.SubscriptionEvent.FromString(w).indication.header), power, "bench", "v"))
            .SerializeToString() for w in sent[0]]
        t2 = time.thread_time()
        for wire in controls:
            ack_wire(sim.control(decode(parse(pb.ControlRequest, wire))))
        for node in sim.nodes.values():
            node.close_slot()
        sim.slots_run += 1
        per_slot.append(1e3 * (time.thread_time() - t2 + t1 - t0))
    ms = np.asarray(per_slot[5:])
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": float(ms.mean())}


def _server_path(decode_control: Any, encode_ack: Any) -> tuple[Any, Any, Any]:
    """What this tree's servers do per message: take a feed's events as sent, decode a
    control, serialize its ack (the node-side wire functions where the tree has them)."""
    from rrm.core.wire import e2_pb2 as pb

    def events(feed: Any) -> list[bytes]:
        if hasattr(feed, "get_event"):  # the servers send the feed's serialized events
            return list(iter(lambda: feed.get_event(0.0), None))
        return [pb.SubscriptionEvent(indication=ind).SerializeToString()
                for ind in iter(lambda: feed.get(0.0), None)]

    def ack_wire(ack: Any) -> bytes:
        return bytes(encode_ack(ack).SerializeToString())

    try:
        from rrm.core.wire.node_wire import (  # type: ignore[import-not-found,unused-ignore]
            decode_control_lean,
        )
    except ImportError:  # trees before it: the codec's decoder
        return events, decode_control, ack_wire
    return events, decode_control_lean, ack_wire


def served(transport: str, nodes: int, k: int, slots: int) -> dict[str, float]:
    """Node-process CPU per slot (ms) with a real server and a subscriber in another process."""
    import time as _time

    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.sim.simulator import Simulator

    warmup = 20
    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 1.0)
                     for i in range(nodes)], 1.0, lockstep=True, max_slots=warmup + slots,
                    wait_for_subscriber=True)
    if transport == "grpc":
        from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server

        server, port, health = create_grpc_server(sim)
        address, stop = f"127.0.0.1:{port}", lambda: stop_grpc_server(server, health)
    else:
        from rrm.sim.e2.zmq_server import create_zmq_server

        zserver, pub, ctl = create_zmq_server(sim)
        address, stop = f"127.0.0.1:{pub}:{ctl}", zserver.stop
    client = subprocess.Popen([sys.executable, __file__, "--client", transport, address,
                               "--k", str(k)], env=os.environ)
    sim.start()
    while sim.slots_run < warmup and not sim.finished.is_set():
        _time.sleep(0.002)  # a poll every 2 ms: a few us of this process's CPU
    t0, wall0, first = os.times(), _time.perf_counter(), sim.slots_run
    threads0 = _thread_cpu()
    last = warmup + slots - 3  # stop counting a few slots early: the clock thread still lives
    while sim.slots_run < last and not sim.finished.is_set():
        _time.sleep(0.005)  # ~0.05 ms of this process's CPU per slot, both trees alike
    threads1 = _thread_cpu()
    t1, wall, done = os.times(), _time.perf_counter() - wall0, sim.slots_run
    user, system = t1.user - t0.user, t1.system - t0.system
    cpu = user + system
    sim.finished.wait(600)
    stop()
    sim.stop()
    client.wait(30)
    n = max(done - first, 1)
    by_thread: dict[str, float] = {}
    for tid, (name, ticks) in threads1.items():
        name, before = threads0.get(tid, (name, 0))  # named while every thread lived
        spent = ticks - before
        by_thread[name] = by_thread.get(name, 0.0) + 1e3 * spent / os.sysconf("SC_CLK_TCK") / n
    return {"mean_ms": 1e3 * cpu / n, "user_ms": 1e3 * user / n, "sys_ms": 1e3 * system / n,
            "wall_ms": 1e3 * wall / n, "slots": float(n),
            "threads_ms": {k: round(v, 2) for k, v in sorted(by_thread.items(),
                                                             key=lambda kv: -kv[1]) if v > 0}}


def _thread_cpu() -> dict[str, tuple[str, int]]:
    """This process's threads: id -> (name, user + system clock ticks so far). Python
    threads by their name (a trailing ``_N`` pool index dropped: a pool is one row),
    others (gRPC's, ZeroMQ's) by the kernel's; Linux only (empty elsewhere)."""
    import re
    import threading

    names = {str(t.native_id): re.sub(r"_\d+$", "", t.name) for t in threading.enumerate()}
    names[str(os.getpid())] = "main"
    out: dict[str, tuple[str, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/self/task/{tid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:  # the thread ended
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        out[tid] = (names.get(tid, comm), int(fields[11]) + int(fields[12]))
    return out


def client(transport: str, address: str, k: int) -> None:
    """The subscriber of :func:`served`: a fixed power control for every indication."""
    import numpy as np

    from rrm.core.types import PowerAllocation
    from rrm.core.wire.messages import ControlMsg, SubscribeMsg
    from rrm.xapp.transport import connect
    from rrm.xapp.transport.base import TransportError

    e2 = connect(transport, address)
    e2.subscribe(SubscribeMsg("bench", transaction_id="bench"))
    power = PowerAllocation(np.full(k, 0.5e-3))
    try:
        while (got := e2.next_indication(5.0)) is not None:
            e2.control(ControlMsg(got.header, power, "bench", "v"), 5.0)
    except TransportError:
        pass  # the node finished and went away
    finally:
        e2.close()


def run_child(tree: str, args: argparse.Namespace, transport: str) -> dict[str, Any]:
    return run_in_tree(__file__, tree, [
        "--nodes", str(args.nodes), "--k", str(args.k), "--slots", str(args.slots),
        "--subscribers", str(args.subscribers), "--transport", transport])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="the base tree (main at the branch point)")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--slots", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="before/after pairs, alternating")
    parser.add_argument("--transports", nargs="+", default=["inproc"],
                        choices=["inproc", "grpc", "zmq"])
    parser.add_argument("--stem", default="sim_slot",
                        help="results file name (bench/results/STEM.md and .json)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--transport", default="inproc", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client[0], args.client[1], args.k)
        return
    if args.child:
        if args.transport == "inproc":
            print(json.dumps(child(args.nodes, args.k, args.slots, args.subscribers)))
        else:
            print(json.dumps(served(args.transport, args.nodes, args.k, args.slots)))
        return
    if not args.base:
        parser.error("--base is required")
    rows = [{"transport": t, "round": r, "version": v, "load_1min": os.getloadavg()[0],
             **run_child(tree, args, t)}
            for r in range(args.rounds) for t in args.transports
            for v, tree in (("before", args.base), ("after", str(HERE)))]
    print(save_results(args.stem, report(args, rows), rows), end="")


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table: every run, then the mean per transport and version."""
    lines = ["# Simulator CPU per slot (node side), before / after #18", "", machine_line(), "",
             f"{args.nodes} nodes x K = {args.k}, {args.slots} slots per run, before and after "
             "alternating. inproc: one thread's CPU time, first 5 slots discarded, "
             f"{args.subscribers} subscriber(s); grpc/zmq: the node process's CPU time (all "
             "threads; the busiest threads apart), one subscriber in another process, after 20 "
             "warm-up slots. Load: "
             "1-minute load average when the run started (2 cores, shared). Command: "
             f"`python bench/bench_sim_slot.py {' '.join(sys.argv[1:])}`.", "",
             "| transport | round | version | load | p50 ms/slot | p90 ms/slot | mean ms/slot "
             "| user / sys ms/slot | wall ms/slot | busiest threads, ms/slot |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    nan = float("nan")
    for r in rows:
        cells = [f"{r[key]:.2f}" if key in r else "-" for key in ("p50_ms", "p90_ms", "mean_ms")]
        split = f"{r['user_ms']:.2f} / {r['sys_ms']:.2f}" if "user_ms" in r else "-"
        wall = f"{r['wall_ms']:.2f}" if "wall_ms" in r else "-"
        threads = ", ".join(f"{name} {ms:.2f}" for name, ms in
                            list(r.get("threads_ms", {}).items())[:4]) or "-"
        lines.append(f"| {r['transport']} | {r['round']} | {r['version']} | "
                     f"{r['load_1min']:.1f} | {' | '.join(cells)} | {split} | {wall} "
                     f"| {threads} |")
    lines += ["", "| transport | before mean ms/slot | after mean ms/slot | after / before |",
              "|---|---|---|---|"]
    for t in args.transports:
        means = {v: [r.get("mean_ms", nan) for r in rows
                     if r["transport"] == t and r["version"] == v] for v in ("before", "after")}
        before, after = (sum(m) / max(len(m), 1) for m in means.values())
        lines.append(f"| {t} | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    return lines


if __name__ == "__main__":
    main()
