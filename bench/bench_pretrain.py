"""Pre-training throughput, before and after (#13), side by side in one run.

Each measurement runs in its own process with its own ``PYTHONPATH``:
``before`` imports the code the issue was filed against (``--base``, a
worktree), ``main`` (with ``--main``) the code at this branch's start,
``after`` this tree. Both pre-train the same model (``small`` with the
shipped edge values, E = 4) for one epoch on the same D1-D15 sets (64
snapshots each: 15 batches of 64, one K per batch), one thread;
``stream`` runs this tree's streamed path on the catalog family (batches
generated inline, ``--workers 0``: generation is part of its time). Rounds
alternate the variants so a noisy neighbour slows them alike; the table
gives the median. Throughput is snapshots per second of training step
(``train``), including the data generation (``end-to-end``), and per
second of the process's own CPU time (``train per CPU s``: on a shared,
oversubscribed machine the wall clock also counts the time other jobs
held the core; the CPU-time rate is the steadier comparison).

Run: ``python bench/bench_pretrain.py --base /work/train-base [--rounds 2]``.
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


def measure(variant: str, n: int, batch: int) -> dict[str, float]:
    """One epoch in this process (imports whatever ``rrm`` is on the path)."""
    import torch

    from rrm.models.gfm.build import backbone_config
    from rrm.models.gfm.data import load_entry
    from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig

    torch.set_num_threads(1)
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


def run_variant(variant: str, paths: dict[str, Path], n: int, batch: int
                ) -> dict[str, float]:
    """``measure`` in a child process with the variant's code on PYTHONPATH."""
    path = paths.get(variant, ROOT)
    env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--measure", variant, "--n", str(n),
                          "--batch", str(batch)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, float | str]], base_rate: float) -> list[str]:
    lines = ["| variant | snapshots | train snapshots/s | end-to-end snapshots/s | "
             "speed-up (train) | train snapshots per CPU s | speed-up (CPU) |",
             "|---|---|---|---|---|---|---|"]
    base_cpu = float(rows[0]["cpu_rate"])
    for r in rows:
        lines.append(f"| {r['variant']} | {r['snapshots']} | {r['train_rate']:.1f} | "
                     f"{r['e2e_rate']:.1f} | {float(r['train_rate']) / base_rate:.2f}x | "
                     f"{r['cpu_rate']:.1f} | {float(r['cpu_rate']) / base_cpu:.2f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("/work/train-base"),
                        help="a checkout of the code before the change")
    parser.add_argument("--main", type=Path, default=None,
                        help="also measure this checkout (e.g. main at the branch point)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n", type=int, default=64, help="snapshots per entry")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.n, args.batch)))
        return
    paths = {"before": args.base, **({"main": args.main} if args.main else {})}
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in [*paths, "after", "stream"]}
    for r in range(args.rounds):
        for variant in runs:
            runs[variant].append(run_variant(variant, paths, args.n, args.batch))
            print(f"round {r + 1} {variant}: {runs[variant][-1]}", file=sys.stderr)
    rows: list[dict[str, float | str]] = []
    for variant, results in runs.items():
        snaps = results[0]["snapshots"]
        train = statistics.median(x["train_s"] for x in results)
        e2e = statistics.median(x["train_s"] + x["gen_s"] for x in results)
        cpu = statistics.median(x["train_cpu_s"] for x in results)
        rows.append({"variant": variant, "snapshots": snaps, "train_rate": snaps / train,
                     "e2e_rate": snaps / e2e, "cpu_rate": snaps / cpu,
                     "runs": results})  # type: ignore[dict-item]
    lines = ["# Pre-training throughput, before and after #13", "", machine_line(),
             f"Command: `python bench/bench_pretrain.py --base {args.base}"
             + (f" --main {args.main}" if args.main else "")
             + f" --rounds {args.rounds} --n {args.n} --batch {args.batch}`; model `small` + "
             "edge values "
             "(E = 4), batch 64, D1-D15, one thread, median of the rounds.", "",
             *table(rows, float(rows[0]["train_rate"])), "", NOTE]
    print(save_results("pretrain_throughput", lines, rows))


if __name__ == "__main__":
    main()
