"""The diffusion policy in the live loop at the paper's N (issue #15 item 6).

An in-process loop on one ergodic node of ``--pairs`` pairs with real
``--slot-ms`` slots and a new topology every ``--episode`` slots (the
:func:`bench_diffusion.live_loop` of N = 20, at another N): the share of slots
served from the pre-sampled buffer; the rest fall back to WMMSE as
``policy_unavailable``. Writes ``results/diffusion-eval/loop-N<pairs>.{md,json}``.

    OMP_NUM_THREADS=1 python bench/bench_diffusion_loop.py --pairs 400
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from bench_diffusion import live_loop
from machine import machine_line, save_results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=400)
    p.add_argument("--slots", type=int, default=400)
    p.add_argument("--episode", type=int, default=100, help="slots per topology")
    p.add_argument("--slot-ms", type=float, default=50.0)
    p.add_argument("--replay", action="store_true",
                   help="slots time-share the buffered samples instead of consuming them")
    p.add_argument("--first-batch", type=int, default=4, help="samples of the first draw")
    p.add_argument("--warm-s", type=float, default=0.0,
                   help="wait up to this long for the first draw before the loop starts")
    p.add_argument("--refill-niceness", type=int, default=0,
                   help="added to the refill thread's OS niceness (0: the policy's default)")
    p.add_argument("--tag", default="", help="suffix of the result files (e.g. before)")
    a = p.parse_args()
    torch.set_num_threads(1)
    kwargs: dict[str, object] = {"first_batch": a.first_batch}
    if a.replay:
        kwargs["replay"] = True
    if a.refill_niceness:  # a knob that older policies lack: passed only when asked for
        kwargs["refill_niceness"] = a.refill_niceness
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    lp = live_loop(a.slots, a.episode, a.slot_ms / 1e3, a.pairs, fill_timeout_s=5.0,
                   warm_timeout_s=a.warm_s, **kwargs)
    wall = time.perf_counter() - t
    load = os.getloadavg()[0]
    row = {**lp, "wall_s": round(wall, 1), "load_avg_1min_start": load0,
           "load_avg_1min": load, "tag": a.tag}
    model = "diffusion-n400" if a.pairs >= 100 else "diffusion-small"
    cmd = (f"OMP_NUM_THREADS=1 python bench/bench_diffusion_loop.py --pairs {a.pairs} --slots "
           f"{a.slots} --episode {a.episode} --slot-ms {a.slot_ms:g}"
           f"{' --replay' if a.replay else ''} --first-batch {a.first_batch} --warm-s "
           f"{a.warm_s:g}" + (f" --refill-niceness {a.refill_niceness}" if a.refill_niceness
                              else "") + (f" --tag {a.tag}" if a.tag else ""))
    stages = ", ".join(f"{k} {v['p50']} / {v['p90']}" for k, v in lp["stage_ms"].items())
    lines = ["# Diffusion policy in the live loop", "", machine_line(),
             f"Shared 2-core CPU, load average (1 min) {load0:.1f} at the start, {load:.1f} at "
             "the end; torch on 1 thread.", "", f"Command: `{cmd}`", "",
             f"Replay (time sharing over the buffered samples): "
             f"{a.replay or 'policy default'}; first draw before the loop: {lp['warm_s']} s.",
             "", f"One ergodic node, N = {a.pairs}, shipped {model} (100 DDIM steps, refills "
             f"of 32), {lp['slots']} slots of {lp['slot_ms']:.0f} ms, a new topology every "
             f"{a.episode} slots, {wall:.0f} s wall: **{lp['served']} slots "
             f"({lp['served_share']:.1%}) served from the buffer**, {lp['applied']} "
             f"({lp['applied_share']:.1%}) of them applied by the node in their slot; "
             f"fallbacks {json.dumps(lp['fallbacks'])}; refusals (dequeued after the deadline) "
             f"{lp['refusals']}; controls after the deadline {lp['deadline_misses']}; buffer "
             f"counters {json.dumps(lp['buffer'])}.", "",
             f"Loop stages, ms p50 / p90: {stages}."]
    stem = (f"diffusion-eval/loop-N{a.pairs}" + ("-replay" if a.replay else "")
            + (f"-{a.tag}" if a.tag else ""))
    print(save_results(stem, lines, [row]))


if __name__ == "__main__":
    main()
