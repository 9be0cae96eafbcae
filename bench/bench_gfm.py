"""GFM-RA vs WMMSE-Best, WMMSE and full reuse on D16-D20 (shipped checkpoints).

For each K and objective: mean utility normalised by WMMSE-Best (the paper's
Fig. 4 metric) and the single-snapshot decision latency next to one WMMSE
run. Optional extra checkpoints (e.g. from-scratch or 64-shot models) are
compared on D18. Writes bench/results/gfm.md (+ .json).
Run: ``python bench/bench_gfm.py [--n 200] [--extra NAME=DIR ...]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, machine_line  # noqa: E402

from models.gfm.data import load_entry  # noqa: E402
from models.gfm.evaluate import evaluate  # noqa: E402
from models.gfm.policy import GFMPolicy  # noqa: E402
from models.policy import make_policy  # noqa: E402
from sim.types import InterferenceState  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def rows_for(entry: str, objective: str, n: int, extra: dict[str, str]) -> list[dict[str, object]]:
    test = load_entry(entry, "test", n, 0)
    state = InterferenceState(test.gains.numpy(), test.noise_w, test.pmax_w)
    policies = {"gfm": GFMPolicy(), "wmmse": make_policy("wmmse"),
                "full-reuse": make_policy("full-reuse"), "wmmse-best": make_policy("wmmse-best")}
    policies.update({name: GFMPolicy(path) for name, path in extra.items()})
    out = []
    for r in evaluate(policies, state, objective):
        out.append({"entry": entry, "K": test.gains.shape[-1], "objective": objective,
                    **r.__dict__})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=CHECKPOINT_DIR (D18 only)")
    parser.add_argument("--entries", default="D16,D17,D18,D19,D20")
    parser.add_argument("--objectives", default="sum,pf,qos")
    parser.add_argument("--out", default="gfm", help="results file stem in bench/results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    extra = dict(e.split("=", 1) for e in args.extra)
    rows = []
    for entry in args.entries.split(","):
        for objective in args.objectives.split(","):
            rows += rows_for(entry, objective, args.n, extra if entry == "D18" else {})
    write(rows, args.n, args.out)


def write(rows: list[dict[str, object]], n: int, stem: str = "gfm") -> None:
    OUT.mkdir(exist_ok=True)
    lines = ["# GFM-RA (shipped small checkpoints) on D16-D20", "", machine_line(), "",
             f"Test split, first {n} snapshots per entry. Ratio = mean utility / WMMSE-Best's "
             "(for pf and qos, utilities can be negative: read the ratio with care). "
             "Latency: one snapshot, single thread.", "",
             "| entry | K | objective | policy | utility | / WMMSE-Best | ms single |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['entry']} | {r['K']} | {r['objective']} | {r['policy']} | "
                     f"{r['utility']:.3f} | {r['ratio']:.4f} | {r['ms_single']:.3f} |")
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (OUT / f"{stem}.json").write_text(json.dumps({"machine": machine_info(), "rows": rows},
                                                 indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
