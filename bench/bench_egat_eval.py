"""EGAT vs AO-SCA, PC-WMMSE and FC-ZF on every setting of Tables II-IV (issue #16 goals).

Settings: C = 40-90 Mbit/s at B=8, K=4 (Table II, Fig. 6); B = 7-10 at K=4,
C=60 (Table III, Fig. 7); K = 4-7 at B=8, C=60 (Table IV, Fig. 8); M=2.
Every policy answers the same ``--n`` fresh instances per setting (the
paper tests 200; AO-SCA's ~1 s per instance on this CPU sets a smaller n).
Per EGAT checkpoint two rows: ``<name>`` is the deployed policy (rate cap
on, :mod:`rrm.models.cellfree.rate_cap`) and ``<name>-nocap`` the network's
own answer (the learned feasibility). WSR is the mean after the heuristic
scaling of sec. V-A, feasibility is before it, time is the batched
``decide`` per instance. Writes bench/results/egat-eval/eval.{md,json,png}.
Run: ``python bench/bench_egat_eval.py --n 20 --model NAME=CHECKPOINT_DIR [--model ...]``;
``--cache-dir DIR`` keeps the baselines' rows (AO-SCA: ~2.5 s an instance here) for reruns;
``--settings C=80,B=7`` evaluates only those columns (a long n = 200 run done in pieces).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_egat_feasibility import SETTINGS  # noqa: E402
from machine import RESULTS, machine_line, save_results  # noqa: E402

from rrm.core.optional import pyplot  # noqa: E402
from rrm.models.cellfree.egat_policy import EgatPolicy  # noqa: E402
from rrm.models.cellfree.evaluate import instances, score  # noqa: E402
from rrm.models.policy import Policy, make_policy  # noqa: E402
from rrm.sim.scenarios.cellfree import CellFreeConfig  # noqa: E402

CACHED = ("ao-sca", "pc-wmmse", "fc-zf")  # baselines: their rows do not change between runs


def _policies(models: list[tuple[str, str]], aosca_iter: int) -> dict[str, Policy]:
    pols: dict[str, Policy] = {}
    for name, path in models:
        pols[name] = EgatPolicy(path)
        pols[f"{name}-nocap"] = EgatPolicy(path, rate_cap=False)
    pols["ao-sca"] = make_policy("ao-sca", max_iter=aosca_iter)
    pols["pc-wmmse"] = make_policy("pc-wmmse")
    pols["fc-zf"] = make_policy("fc-zf")
    return pols


Setting = tuple[str, int, CellFreeConfig]


def select(names: str) -> list[Setting]:
    """The settings named ``AXIS=VALUE,...`` (all of Tables II-IV when empty), in table order."""
    if not names:
        return list(SETTINGS)
    wanted = set(names.split(","))
    known = {f"{a}={v}" for a, v, _ in SETTINGS}
    if wanted - known:
        raise SystemExit(f"unknown settings {sorted(wanted - known)}; known: {sorted(known)}")
    return [s for s in SETTINGS if f"{s[0]}={s[1]}" in wanted]


def evaluate(pols: dict[str, Policy], n: int, seed: int, cache: Path | None = None,
             settings: list[Setting] | None = None) -> list[dict[str, Any]]:
    """One row per (setting, policy); baseline rows are read from / written to ``cache``.

    The cache (JSON, one entry per policy and setting, keyed by n, seed and
    AO-SCA's iterations through its file name) is written after every setting,
    so a long AO-SCA run at n = 200 resumes where it stopped.
    """
    rows = []
    cached: dict[str, dict[str, Any]] = (json.loads(cache.read_text())
                                         if cache is not None and cache.is_file() else {})
    for axis, value, cfg in SETTINGS if settings is None else settings:
        state = instances(cfg, n, seed + 10 * value)
        for name, pol in pols.items():
            key = f"{name}/{axis}={value}"
            if cache is not None and name in CACHED and key in cached:
                rows.append(cached[key])
                continue
            s = score(pol, state)
            rows.append({"axis": axis, "value": value, "policy": name,
                         "wsr": float(s.wsr.mean()), "feasible_share": float(s.feasible_raw.mean()),
                         "ms_per_instance": 1e3 * s.seconds, "aps_per_ue": s.aps_per_ue})
            if cache is not None and name in CACHED:
                cached[key] = rows[-1]
                cache.write_text(json.dumps(cached, indent=1))
            print(f"{axis}={value} {name}: {rows[-1]['wsr']:.3f} "
                  f"{rows[-1]['feasible_share']:.3f} {rows[-1]['ms_per_instance']:.2f} ms",
                  file=sys.stderr, flush=True)
    return rows


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """The settings the rows cover, in table order."""
    return list(dict.fromkeys(f"{r['axis']}={r['value']}" for r in rows))


def _table(rows: list[dict[str, Any]], names: list[str], key: str, fmt: str) -> list[str]:
    cols = _columns(rows)
    out = ["| policy | " + " | ".join(cols) + " | mean |", "|---" * (len(cols) + 2) + "|"]
    for name in names:
        vals = [r[key] for r in rows if r["policy"] == name]
        out.append(f"| {name} | " + " | ".join(format(v, fmt) for v in vals)
                   + f" | {format(float(np.mean(vals)), fmt)} |")
    return out


def _ratio_table(rows: list[dict[str, Any]], names: list[str]) -> list[str]:
    cols = _columns(rows)
    ao = [r["wsr"] for r in rows if r["policy"] == "ao-sca"]
    out = ["| policy | " + " | ".join(cols) + " | mean | min |", "|---" * (len(cols) + 3) + "|"]
    for name in names:
        ratio = [r["wsr"] / a for r, a in zip([r for r in rows if r["policy"] == name], ao,
                                             strict=True)]
        out.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in ratio)
                   + f" | {np.mean(ratio):.3f} | {np.min(ratio):.3f} |")
    return out


def trained_sizes(checkpoint: str) -> list[tuple[int, int]]:
    """The (B, K) sizes a checkpoint was trained on, from its config.json."""
    t = json.loads((Path(checkpoint) / "config.json").read_text())["training"]
    return [(int(b), int(k)) for b, k in t.get("sizes") or [(t["num_aps"], t["num_ues"])]]


def _size_table(rows: list[dict[str, Any]], models: list[tuple[str, str]]) -> list[str]:
    """Each size-general model's WSR over each per-size model's, on that model's own columns."""
    sizes = {name: trained_sizes(path) for name, path in models}
    general = [n for n, sz in sizes.items() if len(sz) > 1]
    size_of = {f"{a}={v}": (c.num_aps, c.num_ues) for a, v, c in SETTINGS}
    wsr = {(r["policy"], f"{r['axis']}={r['value']}"): r["wsr"] for r in rows}
    out = ["| column | per-size model | its WSR | " + " | ".join(f"{g} / it" for g in general)
           + " |", "|---" * (3 + len(general)) + "|"]
    for name, sz in sizes.items():
        if len(sz) != 1:
            continue
        for col in [c for c in _columns(rows) if size_of[c] == sz[0]]:
            out.append(f"| {col} | {name} | {wsr[(name, col)]:.3f} | " + " | ".join(
                f"{wsr[(g, col)] / wsr[(name, col)]:.3f}" for g in general) + " |")
    return out


def write_png(rows: list[dict[str, Any]], names: list[str], path: Path) -> None:
    """WSR and feasibility per setting, one line per policy."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(15, 4.5))
    labels = _columns(rows)
    for name in names:
        mine = [r for r in rows if r["policy"] == name]
        ax[0].plot(labels, [r["wsr"] for r in mine], marker="o", label=name)
        ax[1].plot(labels, [r["feasible_share"] for r in mine], marker="o", label=name)
    ax[0].set(ylabel="mean WSR after scaling (bit/s/Hz)", title="WSR, Tables II-IV settings")
    ax[1].set(ylabel="feasible share before scaling", title="feasibility without scaling")
    ax[1].axhline(0.95, color="grey", ls="--")
    for a in ax:
        a.tick_params(axis="x", rotation=60)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    """Evaluate, print and save."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT_DIR")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=3000)
    ap.add_argument("--aosca-iter", type=int, default=10)
    ap.add_argument("--stem", default="egat-eval/eval")
    ap.add_argument("--cache-dir", default="",
                    help="keep the baselines' rows here (baselines-nN-sS-iI.json) for reruns")
    ap.add_argument("--settings", default="", help="only these columns, e.g. C=80,B=7")
    args = ap.parse_args()
    cache = (Path(args.cache_dir) / f"baselines-n{args.n}-s{args.seed}-i{args.aosca_iter}.json"
             if args.cache_dir else None)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    models = [(a, b) for a, b in (m.split("=", 1) for m in args.model)]
    pols = _policies(models, args.aosca_iter)
    t0 = time.perf_counter()
    rows = evaluate(pols, args.n, args.seed, cache, select(args.settings))
    names = list(pols)
    learned = [n for n in names if n not in ("ao-sca", "pc-wmmse", "fc-zf")]
    training = {n: {k: EgatPolicy(p).metadata.get(k) for k in ("command", "wall_time_s",
                                                                 "steps_done", "machine")}
                for n, p in models}
    lines = ["# EGAT vs the baselines on the settings of Tables II-IV", "",
             "Command: `python bench/bench_egat_eval.py " + " ".join(
                 f"--model {n}={p}" for n, p in models)
             + f" --n {args.n} --seed {args.seed} --aosca-iter {args.aosca_iter}"
             + (f" --settings {args.settings}" if args.settings else "") + "`  ",
             machine_line() + f" Wall time {time.perf_counter() - t0:.0f} s, one torch thread, "
             "the CPU shared with other work.", "",
             f"{args.n} instances per setting for every policy (the paper: 200; AO-SCA takes "
             "about a second per instance here). `NAME` is the deployed policy (rate cap on), "
             "`NAME-nocap` the network's own answer. WSR after the heuristic scaling, "
             "feasibility before it, time of the batched decide per instance.", "",
             "Training of the checkpoints:", ""]
    lines += [f"- {n}: `{t['command']}` ({t['wall_time_s']} s, {t['steps_done']} steps, "
              f"{t['machine']})" for n, t in training.items()]
    lines += ["", "## Mean WSR (bit/s/Hz)", "", *_table(rows, names, "wsr", ".3f"), "",
              "## EGAT WSR / AO-SCA WSR", "", *_ratio_table(rows, learned), "",
              "## Feasible share without the heuristic scaling", "",
              *_table(rows, names, "feasible_share", ".3f"), "",
              "## ms per instance (batched decide)", "",
              *_table(rows, names, "ms_per_instance", ".2f"), "",
              "## Size-general vs per-size models (each on its own columns)", "",
              *_size_table(rows, models), "",
              "## Serving APs per UE (Fig. 9)", "", *_table(rows, names, "aps_per_ue", ".2f"),
              "", f"![EGAT eval]({Path(args.stem).name}.png)"]
    (RESULTS / "egat-eval").mkdir(parents=True, exist_ok=True)
    print(save_results(args.stem, lines, rows))
    write_png(rows, names, RESULTS / f"{args.stem}.png")


if __name__ == "__main__":
    main()
