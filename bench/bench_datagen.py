"""Data-set generation speed: d2d catalog entries (D18 in full), file writing, ergodic networks.

Generation only (no file) of the whole D18 train+val+test volume (120,000
snapshots at K = 50, the paper's pre-training set size), rates for the
catalog's extremes (D1, D15, D20; 10,000 snapshots each), the cost of
writing 10,000 D18 snapshots to .npz and .h5, and the ergodic scenario's
32 networks of N = 400 pairs. Prints a table and writes
bench/results/datagen.md (+ .json). Run: ``python bench/bench_datagen.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.sim.dataset import iter_chunks, write_dataset  # noqa: E402


def generation(name: str, n: int, seed: int = 0) -> dict[str, object]:
    """Time generating ``n`` snapshots of a catalog entry, chunk by chunk, keeping none."""
    start = time.perf_counter()
    done = sum(len(arrays["gains"]) for arrays, _ in iter_chunks("d2d", n, seed, catalog=name))
    seconds = time.perf_counter() - start
    return {"what": f"{name} generate", "n": done, "seconds": seconds, "per_s": done / seconds}


def writing(suffix: str, n: int = 10_000) -> dict[str, object]:
    """Time generating and writing ``n`` D18 snapshots to a file of the given format."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d18{suffix}"
        start = time.perf_counter()
        write_dataset(path, "d2d", n, seed=0, catalog="D18")
        seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
    return {"what": f"D18 write {suffix}", "n": n, "seconds": seconds, "per_s": n / seconds,
            "size_mb": size_mb}


def ergodic(n: int = 32) -> dict[str, object]:
    """Time generating ``n`` ergodic networks (N = 400, R = 5800 m, the densest)."""
    start = time.perf_counter()
    done = sum(len(a["large_scale"]) for a, _ in iter_chunks("ergodic", n, 0, side_m=5800.0))
    seconds = time.perf_counter() - start
    return {"what": "ergodic N=400 generate", "n": done, "seconds": seconds,
            "per_s": done / seconds}


def main() -> None:
    rows = [generation("D18", 120_000)]
    print(f"D18: {rows[0]['per_s']:,.0f} snapshots/s", flush=True)
    rows += [generation(name, 10_000) for name in ("D1", "D15", "D20")]
    rows += [writing(".npz"), writing(".h5"), ergodic()]
    lines = ["# Data-set generation speed", "", machine_line(), "",
             "One process, numpy on 2 cores; generation is vectorised over snapshots and "
             "links in chunks of 2,000 snapshots. D18 = K 50, [1, 100] m; D1 = K 20, "
             "[2, 65] m; D15 = K 80, [30, 70] m (the hardest placement); D20 = K 80, "
             "[1, 100] m. Writes include generation (float32 gains, float64 positions).", "",
             "| what | n | seconds | per second | file MB |", "|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['size_mb']:.0f}" if "size_mb" in r else ""
        lines.append(f"| {r['what']} | {r['n']:,} | {r['seconds']:.1f} | "
                     f"{r['per_s']:,.0f} | {size} |")
    print(save_results("datagen", lines, rows), end="")


if __name__ == "__main__":
    main()
