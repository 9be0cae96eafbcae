"""Where the simulator node's per-slot CPU goes (8 nodes x K = 50, in-process), by part.

The path of ``bench_sim_slot.py``'s in-process child, split: open the slot on
every node, encode the indications, queue them (serialized once), parse and
decode one control per node, apply it (``Simulator.control``: admission,
rates, the ack), encode the acks, close the slot (the next slot's fading
draws). Thread CPU per slot, ms. The ``fading draws`` column times the node's
block fading draws alone (what ``close_slot`` spends on them): since #18
item 5 ``BlockFading``'s K^2 Exp(1) draws per node, before it ``FadingProcess(0.0)``'s
2 K^2 normals and ``|h|^2``. ``--trial-exponential`` (for trees before item 5)
patches ``FadingProcess`` to draw ``|h|^2`` as Exp(1), as item 5 then did.

Run: ``python bench/bench_sim_parts.py [--base TREE] [--rounds 2] [--trial-exponential]``
(versions alternate per round).
Writes bench/results/sim_parts.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, run_in_tree, save_results  # noqa: E402

PARTS = ("open_slot", "encode_indication", "queue", "parse_control", "decode_control",
         "control", "encode_ack", "close_slot")


def child(slots: int, exponential: bool) -> dict[str, float]:
    """Per-part thread CPU per slot (ms), in this process."""
    import numpy as np

    from rrm.core.types import PowerAllocation
    from rrm.core.wire import e2_pb2 as pb
    from rrm.core.wire.codec import (
        decode_control,
        encode_ack,
        encode_control,
        encode_indication,
        header_from_pb,
        parse,
    )
    from rrm.core.wire.messages import ControlMsg, SubscribeMsg
    from rrm.sim.fading import FadingProcess
    from rrm.sim.nodes import NodeSpec, build_node
    from rrm.sim.simulator import Simulator
    from rrm.xapp.logs import configure_logging

    configure_logging("error")
    if exponential:  # the trial: |h|^2 ~ Exp(1) drawn directly (block fading only)
        def reset(self: Any, rng: Any, shape: tuple[int, ...]) -> Any:
            self._rng, self._shape = rng, shape
            return rng.standard_exponential(shape)

        FadingProcess.reset = reset  # type: ignore[method-assign]
        FadingProcess.step = lambda self: self._rng.standard_exponential(self._shape)  # type: ignore[method-assign]
    k, n = 50, 8
    sim = Simulator([build_node(NodeSpec(num_links=k), f"node-{i}", i, 1.0) for i in range(n)],
                    1.0, lockstep=True)
    sim.subscribe(SubscribeMsg("bench", transaction_id="t0"))
    power = PowerAllocation(np.full(k, 0.5e-3))
    nodes = list(sim.nodes.values())
    encode, queue, decode, ack_wire = _node_path(nodes, encode_indication, decode_control,
                                                 encode_ack)
    acc = dict.fromkeys(PARTS, 0.0)
    clock = time.thread_time
    for slot in range(slots + 5):
        marks = [clock()]
        with sim._lock:
            sim._prune()
            channel = next(iter(sim._channels.values()))
            sim._pending = set(sim.nodes)
        inds = [node.open_slot() for node in nodes]
        marks.append(clock())
        encoded = [encode(i, ind, channel.channel_id) for i, ind in enumerate(inds)]
        marks.append(clock())
        got = queue(channel.feed, encoded)
        marks.append(clock())
        wires = [encode_control(ControlMsg(header_from_pb(ind.header), power, "bench", "v"))
                 .SerializeToString() for ind in got]  # the xApp's share: not timed
        marks.append(clock())
        msgs = [parse(pb.ControlRequest, w) for w in wires]
        marks.append(clock())
        controls = [decode(m) for m in msgs]
        marks.append(clock())
        acks = [sim.control(c) for c in controls]
        marks.append(clock())
        for a in acks:
            ack_wire(a)
        marks.append(clock())
        for node in nodes:
            node.close_slot()
        sim.slots_run += 1
        marks.append(clock())
        if slot >= 5:  # the first slots: one-off costs
            spans = [b - a for a, b in zip(marks, marks[1:], strict=False)]
            del spans[3]  # building the controls (the xApp's share)
            for part, span in zip(PARTS, spans, strict=True):
                acc[part] += span
    out = {part: 1e3 * s / slots for part, s in acc.items()}
    out["total"] = sum(out.values())
    out["fading draws"] = _fading_draws_ms(slots, n, k)
    return out


def _node_path(nodes: list[Any], encode_indication: Any, decode_control: Any,
               encode_ack: Any) -> tuple[Any, Any, Any, Any]:
    """This tree's node-side path: (encode an indication for a channel, queue the encoded
    ones and take them as a server sends them -> their indications, decode a control,
    serialize an ack). Trees with ``rrm.core.wire.node_wire`` write the indications'
    bytes directly and queue them (their servers send the feed's events) and decode
    controls by its short path; older ones build the message."""
    from rrm.core.wire import e2_pb2 as pb

    try:
        from rrm.core.wire.node_wire import (  # type: ignore[import-not-found,unused-ignore]
            IndicationWriter,
            decode_control_lean,
        )
        from rrm.sim.feed import SharedIndication
    except ImportError:
        def encode(i: int, ind: Any, channel_id: str) -> Any:
            e = encode_indication(ind)
            e.header.channel_id = channel_id
            return e

        def queue(feed: Any, encoded: list[Any]) -> list[Any]:
            for e in encoded:
                feed.put(e)
            return list(iter(lambda: feed.get(0.0), None))

        return encode, queue, decode_control, lambda a: encode_ack(a).SerializeToString()
    writers = [IndicationWriter() for _ in nodes]

    def queue_wire(feed: Any, encoded: list[bytes]) -> list[Any]:
        for e in encoded:
            feed.put(SharedIndication(e))
        events = list(iter(lambda: feed.get_event(0.0), None))
        return [pb.SubscriptionEvent.FromString(e).indication for e in events]  # not timed: tiny

    return (lambda i, ind, cid: writers[i](ind, cid)), queue_wire, decode_control_lean, (
        lambda a: encode_ack(a).SerializeToString())


def _fading_draws_ms(slots: int, n: int, k: int) -> float:
    """Thread CPU ms per slot of ``n`` nodes' block fading gains ``|h|^2`` over ``[K, K]``.

    The node's own block fading (``node_fading(0.0)`` where the tree has it: Exp(1)
    draws; else ``FadingProcess(0.0)``: 2 K^2 normals, then ``|h|^2``).
    """
    import numpy as np

    try:
        from rrm.sim.nodes import node_fading  # type: ignore[attr-defined,unused-ignore]
        fading = node_fading(0.0)
    except ImportError:  # trees before BlockFading
        from rrm.sim.fading import FadingProcess
        fading = FadingProcess(0.0)
    fading.reset(np.random.default_rng(0), (k, k))
    clock = time.thread_time
    t0 = clock()
    for _ in range(slots * n):
        fading.step()
    return 1e3 * (clock() - t0) / slots


HERE = Path(__file__).resolve().parents[1]


def run_child(args: argparse.Namespace, tree: str, exponential: bool) -> dict[str, Any]:
    return run_in_tree(__file__, tree, ["--slots", str(args.slots)]
                       + (["--exponential"] if exponential else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="also run this tree (main at the branch point)")
    parser.add_argument("--slots", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trial-exponential", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--exponential", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.slots, args.exponential)))
        return
    here = str(HERE)
    versions = ([("before", args.base, False)] if args.base else []) + [("after", here, False)] + (
        [("Exp(1) trial", here, True)] if args.trial_exponential else [])
    rows = [{"round": r, "version": v, "load_1min": os.getloadavg()[0], **run_child(args, t, e)}
            for r in range(args.rounds) for v, t, e in versions]
    cols = [*PARTS, "total", "fading draws"]
    lines = ["# Simulator node CPU per slot by part (8 nodes x K = 50, in-process)", "",
             machine_line(), "",
             f"Thread CPU ms per slot over {args.slots} slots (after 5), one subscriber. "
             "`fading draws`: the node's block fading gains alone, 8 nodes (part of `close_slot`; "
             "before: 2 K^2 normals and |h|^2 per node, after: K^2 Exp(1) draws). "
             + ("`Exp(1) trial`: block fading's |h|^2 drawn as Exp(1) instead (patched; what #18 "
                "item 5 then made). " if args.trial_exponential else "")
             + "Load: 1-minute load average (2 cores, shared). Command: "
             f"`python bench/bench_sim_parts.py {' '.join(sys.argv[1:])}`.", "",
             "| round | version | load | " + " | ".join(cols) + " |",
             "|" + "---|" * (3 + len(cols))]
    for r in rows:
        cells = ["-" if r.get(c) is None else f"{r[c]:.3f}" for c in cols]
        lines.append(f"| {r['round']} | {r['version']} | {r['load_1min']:.1f} | "
                     + " | ".join(cells) + " |")
    print(save_results("sim_parts", lines, rows), end="")


if __name__ == "__main__":
    main()
