"""Transport round trip: gRPC vs ZeroMQ for K = 20, 50, 80, 400 d2d gains; codec cost.

A child process (this script with ``--serve``) runs an E2 node whose feed
makes one d2d indication available every slot period; its header timestamp
is the wall-clock moment it became available (the publish time). Here the
xApp side receives it, answers with a power control and waits for the ack:

    round trip = ack received - indication published   (wall clock, one machine)
    in         = indication received - published       (node -> xApp, wire + queue)
    control    = ack received - indication received    (unary control round trip)

No policy and no CSI validation run in the loop (the codec's cost is the
second table); the slot period is long enough that nothing queues (the
``dropped`` column shows it). Writes bench/results/transport.md.
Run: ``python bench/bench_transport.py [--trips 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402

from rrm.core.types import InterferenceState, PowerAllocation  # noqa: E402
from rrm.core.wire import e2_pb2 as pb  # noqa: E402
from rrm.core.wire.codec import (  # noqa: E402
    decode_control,
    decode_indication,
    encode_control,
    encode_indication,
    parse,
)
from rrm.core.wire.messages import (  # noqa: E402
    AckMsg,
    AppliedSource,
    ControlMsg,
    Header,
    IndicationMsg,
    NodeInfo,
    Outcome,
    SubscribedMsg,
    SubscribeMsg,
)
from rrm.sim.e2.service import Subscription  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
KS = (20, 50, 80, 400)
WARMUP = 50


def d2d_indication(k: int, seq: int = 0) -> IndicationMsg:
    """A seeded d2d CSI report with K links (gains ~1e-12..1e-8, 10 dBm, -104 dBm noise)."""
    rng = np.random.default_rng(k)
    gains = rng.uniform(1e-12, 1e-10, (k, k)) + np.diag(rng.uniform(1e-9, 1e-8, k))
    now = time.time_ns()
    return IndicationMsg(Header("bench", seq, seq, now, now + 10**7),
                         "d2d", InterferenceState(gains, 4e-14, np.full(k, 0.01)))


class PacedFeed:
    """IndicationFeed making one indication available every ``period_s`` (timestamped then)."""

    def __init__(self, k: int, period_s: float) -> None:
        self.template = encode_indication(d2d_indication(k))
        self.period_ns = int(period_s * 1e9)
        self.next_ns = time.time_ns() + self.period_ns
        self.seq = 0
        self._closed = threading.Event()

    def get(self, timeout_s: float) -> pb.Indication | None:
        wait_s = (self.next_ns - time.time_ns()) / 1e9
        if wait_s > timeout_s or self._closed.is_set():
            time.sleep(max(0.0, timeout_s))
            return None
        time.sleep(max(0.0, wait_s))
        ind = pb.Indication()
        ind.CopyFrom(self.template)
        ind.header.slot = ind.header.sequence_number = self.seq
        ind.header.timestamp_ns = self.next_ns  # when it became available: the publish time
        self.seq += 1
        self.next_ns += self.period_ns
        return ind

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()


class BenchNode:
    """NodeService of the child process: paced feed, every control accepted."""

    def __init__(self, k: int, period_s: float) -> None:
        self.k, self.period_s = k, period_s
        self.rates = np.ones(k)

    def subscribe(self, request: SubscribeMsg) -> Subscription:
        ack = SubscribedMsg("bench-ch", request.transaction_id, (NodeInfo("bench", "d2d", self.k),))
        return Subscription(ack, PacedFeed(self.k, self.period_s))

    def control(self, request: ControlMsg) -> AckMsg:
        return AckMsg(request.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                      applied_slot=request.header.slot, rates=self.rates, realised=True)

    def malformed_control(self, detail: str) -> None:
        pass


def serve(transport: str, k: int, period_s: float) -> None:
    """Child process: serve a BenchNode, print its address, stop on SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = BenchNode(k, period_s)
    if transport == "grpc":
        from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server

        server, port, health = create_grpc_server(node)
        address, closer = f"127.0.0.1:{port}", lambda: stop_grpc_server(server, health, 0)
    else:
        from rrm.sim.e2.zmq_server import create_zmq_server

        zserver, pub, ctl = create_zmq_server(node)
        address, closer = f"127.0.0.1:{pub}:{ctl}", zserver.stop
    print(json.dumps({"address": address}), flush=True)
    try:
        stop.wait()
    finally:
        closer()


def round_trips(transport: str, address: str, k: int, trips: int) -> dict[str, float]:
    """Answer ``WARMUP + trips`` indications; latency percentiles in ms."""
    from rrm.xapp.transport import connect

    client = connect(transport, address)
    rtt, inbound, control = [], [], []
    power = PowerAllocation(np.full(k, 0.005))
    try:
        client.subscribe(SubscribeMsg("bench", transaction_id="bench-tx"))
        for i in range(WARMUP + trips):
            raw = client.next_indication(5.0)
            assert raw is not None, "the node stopped publishing"
            received = time.time_ns()
            client.control(ControlMsg(raw.header, power, "bench"), 5.0)
            acked = time.time_ns()
            if i >= WARMUP:
                rtt.append(acked - raw.header.timestamp_ns)
                inbound.append(received - raw.header.timestamp_ns)
                control.append(acked - received)
        dropped = float(getattr(client, "dropped", 0))
    finally:
        client.close()
    ms = {name: np.asarray(v) / 1e6 for name, v in
          (("rtt", rtt), ("in", inbound), ("control", control))}
    return {"p50": float(np.percentile(ms["rtt"], 50)), "p99": float(np.percentile(ms["rtt"], 99)),
            "in_p50": float(np.median(ms["in"])), "control_p50": float(np.median(ms["control"])),
            "dropped": dropped}


def measure_transport(transport: str, k: int, trips: int) -> dict[str, float]:
    """Start the child node, run the round trips, stop the child."""
    period_ms = 5 if k <= 80 else 15
    cmd = [sys.executable, __file__, "--serve", transport, "--k", str(k),
           "--period-ms", str(period_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = json.loads(proc.stdout.readline())["address"]
        return {"period_ms": period_ms, **round_trips(transport, address, k, trips)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def codec_cost(k: int, number: int) -> dict[str, float]:
    """Encode (+serialize) and parse (+validate) cost per message, microseconds."""
    msg = d2d_indication(k)
    wire = encode_indication(msg).SerializeToString()
    control = ControlMsg(msg.header, PowerAllocation(np.full(k, 0.005)), "bench")
    ctl_wire = encode_control(control).SerializeToString()

    def per_call_us(fn: object) -> float:
        return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6  # type: ignore[arg-type]

    return {"bytes": len(wire),
            "enc_us": per_call_us(lambda: encode_indication(msg).SerializeToString()),
            "dec_us": per_call_us(lambda: decode_indication(parse(pb.Indication, wire))),
            "ctl_us": per_call_us(lambda: decode_control(parse(
                pb.ControlRequest, encode_control(control).SerializeToString()))),
            "ctl_bytes": len(ctl_wire)}


def write(rows: list[dict[str, object]], codec: list[dict[str, float]], trips: int,
          load: float) -> str:
    """The markdown report (also written to bench/results/transport.md)."""
    lines = ["# E2 transport round trip: gRPC vs ZeroMQ", "", machine_line(),
             f"1-minute load average at start: {load:.2f}"
             + (" (other work shared the cores: expect noisier tails)." if load > 0.5 else "."),
             "",
             f"Node in a child process, xApp side here; {trips} round trips per row after "
             f"{WARMUP} warm-up. Round trip = indication published (node) -> received -> "
             "control sent -> ack received (xApp), wall clock, ms. `in`: published -> "
             "received; `control`: the unary control round trip. No policy, no CSI "
             "validation in the loop (see the codec table).", "",
             "| K | transport | indication KiB | period ms | p50 ms | p99 ms | in p50 | "
             "control p50 | dropped |", "|---|---|---|---|---|---|---|---|---|"]
    sizes = {int(c["k"]): c["bytes"] / 1024 for c in codec}
    for r in rows:
        lines.append(f"| {r['k']} | {r['transport']} | {sizes[int(r['k'])]:.1f} | "  # type: ignore[call-overload]
                     f"{r['period_ms']} | {r['p50']:.3f} | {r['p99']:.3f} | {r['in_p50']:.3f} | "
                     f"{r['control_p50']:.3f} | {int(r['dropped'])} |")  # type: ignore[call-overload]
    lines += ["", "Codec cost per message (best of 3, microseconds): indication encode = "
              "`encode_indication` + serialize; decode = parse + `decode_indication` "
              "(validation included); control = encode + serialize + parse + decode.", "",
              "| K | indication bytes | encode us | decode us | control bytes | control us |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {int(c['k'])} | {int(c['bytes'])} | {c['enc_us']:.1f} | {c['dec_us']:.1f} | "
              f"{int(c['ctl_bytes'])} | {c['ctl_us']:.1f} |" for c in codec]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=300)
    parser.add_argument("--serve", choices=("grpc", "zmq"))
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--period-ms", type=float, default=5.0)
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    if args.serve:
        serve(args.serve, args.k, args.period_ms / 1000)
        return
    load = os.getloadavg()[0]
    codec = [{"k": float(k), **codec_cost(k, 2000 if k <= 80 else 100)} for k in KS]
    rows: list[dict[str, object]] = []
    for k in KS:
        for transport in ("grpc", "zmq"):
            rows.append({"k": k, "transport": transport,
                         **measure_transport(transport, k, args.trips)})
            print(f"K={k} {transport}: p50 {rows[-1]['p50']:.3f} ms", file=sys.stderr)
    report = write(rows, codec, args.trips, load)
    OUT.mkdir(exist_ok=True)
    (OUT / "transport.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
