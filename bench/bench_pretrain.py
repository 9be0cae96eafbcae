"""Pre-training throughput, before and after (#13), side by side in one run.

Each measurement runs in its own process with its own ``PYTHONPATH``:
``before`` imports the code the issue was filed against (``--base``, a
worktree), ``main`` (with ``--main``) the code at this branch's start,
``after`` this tree. Both pre-train the same model (``small`` with the
shipped edge values, E = 4) for one epoch on the same D1-D15 sets (64
snapshots each: 15 batches of 64, one K per batch, so no padding), on each
of ``--threads`` intra-op thread counts; ``stream`` (with ``--stream``) runs
this tree's streamed path on the catalog family (batches generated inline,
``--workers 0``: generation is part of its time). Rounds
alternate the variants so a noisy neighbour slows them alike; the table
gives the median. Throughput is snapshots per second of training step
(``train``), including the data generation (``end-to-end``), and per
second of the process's own CPU time (``train per CPU s``: on a shared,
oversubscribed machine the wall clock also counts the time other jobs
held the core; the CPU-time rate is the steadier comparison; with two
threads it counts both). The 1-minute load average is read before each
measurement.

Run: ``python bench/bench_pretrain.py --base /work/train-base [--main DIR] [--rounds 2]
[--threads 1,2] [--stream]``.
Writes bench/results/pretrain_throughput.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = [f"D{i}" for i in range(1, 16)]
NOTE = ("`before` and `after` train on the same 15 batches; `stream` draws 15 catalog "
        "batches at random (entry, hence K, by chance), so its figure is not the same work "
        "and is no speed-up claim.")


def measure(variant: str, n: int, batch: int, threads: int) -> dict[str, float]:
    """One epoch in this process (imports whatever ``rrm`` is on the path)."""
    import torch

    from rrm.models.gfm.build import backbone_config
    from rrm.models.gfm.data import load_entry
    from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = HybridPretrainer(backbone_config("small", edge_value_dim=4), PretrainConfig())
    snapshots = len(ENTRIES) * n
    if variant == "stream":
        from rrm.models.gfm.stream_train import StreamSettings, pretrain_stream
        from rrm.sim.scenarios.corpus import CorpusSpec

        run = StreamSettings(epochs=1, steps_per_epoch=snapshots // batch, batch_size=batch)
        t0, c0 = time.perf_counter(), time.process_time()
        pretrain_stream(model, CorpusSpec.parse("catalog"), run, torch.device("cpu"))
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"train_s": total, "train_cpu_s": cpu, "gen_s": 0.0,
                "snapshots": run.steps_per_epoch * batch}
    from rrm.models.gfm.train import pretrain

    t0 = time.perf_counter()
    sets = [load_entry(e, "train", n, 0) for e in ENTRIES]
    gen = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    pretrain(model, sets, 1, batch, 1e-3, 0)
    return {"train_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - c0,
            "gen_s": gen, "snapshots": snapshots}


def run_variant(variant: str, paths: dict[str, Path], n: int, batch: int, threads: int
                ) -> dict[str, float]:
    """``measure`` in a child process with the variant's code on PYTHONPATH."""
    path = paths.get(variant, ROOT)
    env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": str(threads)}
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--measure", variant, "--n", str(n),
                          "--batch", str(batch), "--threads", str(threads)], env=env,
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load": load}


def table(rows: list[dict[str, float | str]]) -> list[str]:
    """Markdown rows; speed-ups against ``before`` at the same thread count."""
    lines = ["| variant | threads | snapshots | train snapshots/s | end-to-end snapshots/s | "
             "speed-up (train) | train snapshots per CPU s | speed-up (CPU) | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = {r["threads"]: r for r in rows if r["variant"] == "before"}
    for r in rows:
        b = base.get(r["threads"], rows[0])
        lines.append(f"| {r['variant']} | {r['threads']} | {r['snapshots']} | "
                     f"{r['train_rate']:.1f} | {r['e2e_rate']:.1f} | "
                     f"{float(r['train_rate']) / float(b['train_rate']):.2f}x | "
                     f"{r['cpu_rate']:.1f} | {float(r['cpu_rate']) / float(b['cpu_rate']):.2f}x | "
                     f"{r['load']} |")
    return lines


def summarise(variant: str, threads: int, results: list[dict[str, float]]
              ) -> dict[str, float | str]:
    """Median rates of one variant's rounds."""
    snaps = results[0]["snapshots"]
    train = statistics.median(x["train_s"] for x in results)
    e2e = statistics.median(x["train_s"] + x["gen_s"] for x in results)
    cpu = statistics.median(x["train_cpu_s"] for x in results)
    loads = [x["load"] for x in results]
    return {"variant": variant, "threads": threads, "snapshots": snaps,
            "train_rate": snaps / train, "e2e_rate": snaps / e2e, "cpu_rate": snaps / cpu,
            "load": f"{min(loads):.1f}-{max(loads):.1f}",
            "runs": results}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("/work/train-base"),
                        help="a checkout of the code before the change")
    parser.add_argument("--main", type=Path, default=None,
                        help="also measure this checkout (e.g. main at the branch point)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n", type=int, default=64, help="snapshots per entry")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", default="1", help="intra-op thread counts, e.g. 1,2")
    parser.add_argument("--stream", action="store_true", help="also the streamed path")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.n, args.batch, int(args.threads))))
        return
    paths = {"before": args.base, **({"main": args.main} if args.main else {})}
    variants = [*paths, "after", *(["stream"] if args.stream else [])]
    counts = [int(t) for t in args.threads.split(",")]
    runs: dict[tuple[str, int], list[dict[str, float]]] = {
        (v, t): [] for t in counts for v in variants}
    for r in range(args.rounds):
        for (variant, threads), results in runs.items():
            results.append(run_variant(variant, paths, args.n, args.batch, threads))
            print(f"round {r + 1} {variant} x{threads}: {results[-1]}", file=sys.stderr)
    rows = [summarise(v, t, results) for (v, t), results in runs.items()]
    lines = ["# Pre-training throughput, before and after #13", "", machine_line(),
             f"Command: `python bench/bench_pretrain.py --base {args.base}"
             + (f" --main {args.main}" if args.main else "")
             + f" --rounds {args.rounds} --n {args.n} --batch {args.batch} --threads "
             f"{args.threads}{' --stream' if args.stream else ''}`; model `small` + "
             "edge values (E = 4), batch 64, D1-D15, median of the rounds (load: the "
             "1-minute load average before each run, min-max).", "",
             *table(rows), "", NOTE]
    print(save_results("pretrain_throughput", lines, rows))


if __name__ == "__main__":
    main()
