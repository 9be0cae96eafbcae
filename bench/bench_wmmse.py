"""WMMSE and WMMSE-Best: time, sum rate and iterations vs K and vs batch size.

Instances: the d2d scenario of :mod:`rrm.sim.scenarios.d2d` in its D16-D20 form
(D18 defaults: [1, 100] m links in 1 km^2, dual-slope path loss, 7 dB
shadowing, Rayleigh fading, 10 dBm, -174 dBm/Hz over 10 MHz) with K varied.
BLAS runs single-threaded (as in the xApp; set OPENBLAS_NUM_THREADS to
override). Prints a table and writes bench/results/wmmse.md (+ .json).
Run: ``python bench/bench_wmmse.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads BLAS

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, machine_line  # noqa: E402

from rrm.core import physics  # noqa: E402
from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState, PowerAllocation  # noqa: E402
from rrm.models.policy import make_policy  # noqa: E402
from rrm.sim.scenarios.d2d import D2DConfig, generate_d2d  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
SUM = get_objective("sum")
# (K, instances for wmmse, instances for wmmse-best): wmmse-best runs 101 starts each
BY_K = ((20, 512, 64), (50, 256, 32), (80, 128, 16), (400, 8, 4))
BATCHES = ((1, 128, 16), (16, 16, 2), (256, 4, 1))  # (batch, wmmse repeats, best repeats)


def instances(k: int, n: int, seed: int = 0) -> InterferenceState:
    cfg = D2DConfig(num_links=k)
    gains = np.asarray(generate_d2d(cfg, n, np.random.default_rng(seed)).gains, dtype=np.float64)
    return InterferenceState(gains, cfg.noise_w, cfg.pmax_w)


def head(state: InterferenceState, n: int) -> InterferenceState:
    return InterferenceState(state.gains[:n], state.noise_w, state.pmax_w)


def measure(name: str, state: InterferenceState, repeats: int = 1,
            **kw: object) -> dict[str, float]:
    """Mean sum rate, iterations and the median CPU / wall time of ``repeats`` runs."""
    policy = make_policy(name, **kw)
    policy.decide(head(state, 1), SUM)  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        alloc = policy.decide(state, SUM)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    assert isinstance(alloc, PowerAllocation) and alloc.iterations is not None
    rate = physics.rates(state.gains, alloc.power_w, state.noise_w).sum(-1)
    iters = np.asarray(alloc.iterations)
    return {"n": len(state.gains),
            "ms_per_instance": 1e3 * float(np.median(cpu)) / len(state.gains),
            "wall_ms_per_instance": 1e3 * float(np.median(wall)) / len(state.gains),
            "sum_rate": float(rate.mean()), "iter_p50": float(np.percentile(iters, 50)),
            "iter_p95": float(np.percentile(iters, 95))}


def by_k() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for k, n, n_best in BY_K:
        state = instances(k, n)
        row = {"K": k, "wmmse": measure("wmmse", state, repeats=3),
               "wmmse_500": measure("wmmse", state, repeats=3, max_iter=500),
               "wmmse_best": measure("wmmse-best", head(state, n_best)),
               "wmmse_same": measure("wmmse", head(state, n_best), max_iter=500),
               "full_reuse_sum_rate": float(physics.rates(
                   state.gains, np.full(k, state.pmax_w), state.noise_w).sum(-1).mean())}
        rows.append(row)
        print(f"K={k:>3}: " + ", ".join(
            f"{name} {row[name]['ms_per_instance']:.2f} ms/inst "  # type: ignore[index]
            f"rate {row[name]['sum_rate']:.2f}"  # type: ignore[index]
            for name in ("wmmse", "wmmse_500", "wmmse_best")), flush=True)
    return rows


def by_batch() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    state = instances(50, 256, seed=1)
    for batch, reps, reps_best in BATCHES:
        row: dict[str, object] = {"batch": batch}
        for name, r in (("wmmse", reps), ("wmmse-best", reps_best)):
            policy, sub = make_policy(name), head(state, batch)
            policy.decide(head(state, 1), SUM)  # warm-up
            cpu, wall = [], []
            for _ in range(r):
                c0, t0 = time.process_time(), time.perf_counter()
                policy.decide(sub, SUM)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)
            row[name] = 1e3 * float(np.median(cpu)) / batch
            row[f"{name}_wall"] = 1e3 * float(np.median(wall)) / batch
        rows.append(row)
        print(f"batch {batch:>3} at K=50: wmmse {row['wmmse']:.3f}, "
              f"wmmse-best {row['wmmse-best']:.1f} ms/instance", flush=True)
    return rows


def markdown(rows_k: list[dict[str, object]], rows_b: list[dict[str, object]]) -> list[str]:
    lines = ["# WMMSE and WMMSE-Best on d2d instances (D16-D20 protocol, K varied)", "",
             machine_line() + f" BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}; "
             f"load average at the end {os.getloadavg()[0]:.1f}. Times are CPU ms per "
             "instance (median of repeats; the machine is shared, so wall clock, kept in "
             "wmmse.json, is noisier).", "",
             "wmmse: one full-power start, cap 100 iterations (the policy default) or 500; "
             "wmmse-best: full power + 100 random starts, cap 500, vectorised over starts. "
             "Relative tolerance 1e-4 on the sum rate. Sum rate: mean bit/s/Hz per snapshot. "
             "Iterations: per instance (wmmse-best: its slowest start). "
             "best / single: wmmse-best over wmmse (cap 500) on the same instances.", "",
             "| K | n | wmmse ms/inst | iters p50 / p95 | sum rate | cap 500: ms/inst | "
             "iters p50 / p95 | sum rate | wmmse-best n | ms/inst | iters p50 / p95 | sum rate "
             "| best / single | full reuse |", "|" + "---|" * 14]
    for r in rows_k:
        a, c, b = r["wmmse"], r["wmmse_500"], r["wmmse_best"]
        same = r["wmmse_same"]
        assert isinstance(a, dict) and isinstance(b, dict) and isinstance(c, dict)
        assert isinstance(same, dict)
        cells = [f"{r['K']}", f"{a['n']}"]
        for m in (a, c):
            cells += [f"{m['ms_per_instance']:.2f}", f"{m['iter_p50']:.0f} / {m['iter_p95']:.0f}",
                      f"{m['sum_rate']:.2f}"]
        cells += [f"{b['n']}", f"{b['ms_per_instance']:.1f}",
                  f"{b['iter_p50']:.0f} / {b['iter_p95']:.0f}", f"{b['sum_rate']:.2f}",
                  f"{b['sum_rate'] / same['sum_rate']:.3f}", f"{r['full_reuse_sum_rate']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| batch (K=50) | wmmse ms/instance | wmmse-best ms/instance |", "|---|---|---|"]
    lines += [f"| {r['batch']} | {r['wmmse']:.3f} | {r['wmmse-best']:.1f} |" for r in rows_b]
    return lines


def main() -> None:
    t0 = time.perf_counter()
    rows_k, rows_b = by_k(), by_batch()
    lines = markdown(rows_k, rows_b)
    lines += ["", f"Total benchmark time {time.perf_counter() - t0:.0f} s."]
    OUT.mkdir(exist_ok=True)
    (OUT / "wmmse.md").write_text("\n".join(lines) + "\n")
    info = machine_info() | {"blas_threads": os.environ["OPENBLAS_NUM_THREADS"]}
    (OUT / "wmmse.json").write_text(json.dumps({"machine": info, "by_k": rows_k,
                                                "by_batch": rows_b}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
