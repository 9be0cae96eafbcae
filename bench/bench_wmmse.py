"""WMMSE and WMMSE-Best: time and utility vs K and vs batch size on d2d instances.

Instances: the D16-D20 protocol ([1, 100] m links in 1 km^2, 7 dB shadowing,
Rayleigh, 10 dBm, -174 dBm/Hz over 10 MHz) with K varied. Prints a table and
writes bench/results/wmmse.md (+ .json). Run: ``python bench/bench_wmmse.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, machine_line  # noqa: E402

from models.policy import make_policy  # noqa: E402
from sim import physics  # noqa: E402
from sim.objectives import get_objective  # noqa: E402
from sim.scenarios.d2d import D2DConfig, generate_d2d  # noqa: E402
from sim.types import InterferenceState  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
SUM = get_objective("sum")


def instances(k: int, n: int, seed: int = 0) -> InterferenceState:
    cfg = D2DConfig(num_links=k)
    return InterferenceState(generate_d2d(cfg, n, np.random.default_rng(seed)).gains,
                             cfg.noise_w, cfg.pmax_w)


def measure(policy_name: str, state: InterferenceState, **kw: object) -> dict[str, float]:
    policy = make_policy(policy_name, **kw)
    policy.decide(InterferenceState(state.gains[:1], state.noise_w, state.pmax_w), SUM)  # warm-up
    t0 = time.perf_counter()
    alloc = policy.decide(state, SUM)
    seconds = time.perf_counter() - t0
    rate = physics.rates(state.gains, alloc.power_w, state.noise_w).sum(-1)
    iters = np.asarray(alloc.iterations)
    return {"ms_per_instance": 1e3 * seconds / len(state.gains), "sum_rate": float(rate.mean()),
            "iter_p50": float(np.percentile(iters, 50)),
            "iter_p95": float(np.percentile(iters, 95)), "n": len(state.gains)}


def by_k() -> list[dict[str, object]]:
    rows = []
    for k, n, n_best in ((20, 256, 64), (50, 256, 32), (80, 128, 16), (400, 8, 2)):
        state = instances(k, n)
        one = measure("wmmse", state)
        best = measure("wmmse-best", InterferenceState(state.gains[:n_best], state.noise_w,
                                                       state.pmax_w))
        one_same = physics.rates(state.gains[:n_best],
                                 make_policy("wmmse").decide(
                                     InterferenceState(state.gains[:n_best], state.noise_w,
                                                       state.pmax_w), SUM).power_w,
                                 state.noise_w).sum(-1).mean()
        full = physics.rates(state.gains, np.full(k, state.pmax_w), state.noise_w).sum(-1).mean()
        rows.append({"K": k, "wmmse": one, "wmmse_best": best,
                     "best_over_single": best["sum_rate"] / float(one_same),
                     "full_reuse_sum_rate": float(full)})
        print(f"K={k:>3}: wmmse {one['ms_per_instance']:.2f} ms/inst "
              f"(iters p50 {one['iter_p50']:.0f}, p95 {one['iter_p95']:.0f}), "
              f"wmmse-best {best['ms_per_instance']:.1f} ms/inst, "
              f"best/single {rows[-1]['best_over_single']:.3f}", flush=True)
    return rows


def by_batch() -> list[dict[str, object]]:
    rows = []
    state = instances(50, 256, seed=1)
    for batch in (1, 16, 256):
        sub = InterferenceState(state.gains[:batch], state.noise_w, state.pmax_w)
        reps = max(1, 64 // batch)
        t0 = time.perf_counter()
        for _ in range(reps):
            make_policy("wmmse").decide(sub, SUM)
        ms = 1e3 * (time.perf_counter() - t0) / (reps * batch)
        rows.append({"batch": batch, "wmmse_ms_per_instance": ms})
        print(f"batch {batch:>3} at K=50: wmmse {ms:.3f} ms/instance", flush=True)
    return rows


def write(rows_k: list[dict[str, object]], rows_b: list[dict[str, object]]) -> None:
    OUT.mkdir(exist_ok=True)
    lines = ["# WMMSE and WMMSE-Best on d2d instances (D16-D20 protocol, K varied)", "",
             machine_line(), "",
             "wmmse: one full-power start, at most 100 iterations; wmmse-best: full power + "
             "100 random starts, at most 500 iterations, vectorised over starts. Relative "
             "tolerance 1e-4 on the weighted sum rate. Sum rate in bit/s/Hz per snapshot.", "",
             "| K | wmmse ms/inst | iters p50 / p95 | sum rate | wmmse-best ms/inst | "
             "iters p50 / p95 | sum rate | best / single (same inst.) | full reuse |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows_k:
        a, b = r["wmmse"], r["wmmse_best"]
        lines.append(f"| {r['K']} | {a['ms_per_instance']:.2f} | {a['iter_p50']:.0f} / "
                     f"{a['iter_p95']:.0f} | {a['sum_rate']:.2f} | {b['ms_per_instance']:.1f} | "
                     f"{b['iter_p50']:.0f} / {b['iter_p95']:.0f} | {b['sum_rate']:.2f} | "
                     f"{r['best_over_single']:.3f} | {r['full_reuse_sum_rate']:.2f} |")
    lines += ["", "| batch (K=50) | wmmse ms/instance |", "|---|---|"]
    lines += [f"| {r['batch']} | {r['wmmse_ms_per_instance']:.3f} |" for r in rows_b]
    (OUT / "wmmse.md").write_text("\n".join(lines) + "\n")
    (OUT / "wmmse.json").write_text(json.dumps({"machine": machine_info(), "by_k": rows_k,
                                                "by_batch": rows_b}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    write(by_k(), by_batch())
