"""``rrm data gen``: write a scenario data set (npz or h5 by extension)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from tqdm import tqdm

from rrm.core.errors import InvalidInput
from rrm.sim.dataset import write_dataset
from rrm.sim.scenarios import SCENARIOS
from rrm.sim.scenarios.catalog import catalog_entry


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``rrm data gen``."""
    p.description = "Scenario data sets (see docs/data-format.md)."
    sub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    gen = sub.add_parser("gen", help="generate snapshots of a scenario",
                         description="d2d writes gains [n,K,K], tx_xy/rx_xy [n,K,2] (m) and "
                                     "the scenario parameters; .h5 is written incrementally.")
    gen.add_argument("--scenario", required=True, choices=SCENARIOS)
    gen.add_argument("--catalog", help="named d2d data set D1-D20 (sets K and the distances)")
    gen.add_argument("--split", default="train", choices=["train", "val", "test"],
                     help="catalog split (each split has its own seed stream)")
    gen.add_argument("--n", type=int, help="snapshots (default: the catalog split's size)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--k", type=int, help="links (d2d) / pairs (ergodic) / UEs (cellfree)")
    gen.add_argument("--out", required=True, help="output file, .npz or .h5")
    gen.add_argument("--json", action="store_true", help="print the metadata as JSON last")
    gen.set_defaults(run=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.k is None:
        return {}
    if args.k < 1:
        raise InvalidInput(f"--k must be at least 1, got {args.k}")
    key = {"d2d": "num_links", "ergodic": "num_pairs", "cellfree": "num_ues"}[args.scenario]
    return {key: args.k}


def run(args: argparse.Namespace) -> int:
    """Generate with a progress bar, then report size and rate."""
    n = args.n
    entry = catalog_entry(args.catalog) if args.catalog else None  # validates the name first
    if n is None:
        if entry is None:
            raise InvalidInput("--n is required without --catalog")
        n = entry.sizes[args.split]
    if n < 1:
        raise InvalidInput(f"--n must be at least 1, got {n}")
    if not args.out.endswith((".npz", ".h5")):
        raise InvalidInput(f"--out must end in .npz or .h5, got {args.out!r}")
    overrides = _overrides(args)
    start = time.perf_counter()
    with tqdm(total=n, desc=f"{args.catalog or args.scenario} {args.split}", unit="snap") as bar:
        meta = write_dataset(args.out, args.scenario, n, args.seed, args.catalog, args.split,
                             progress=bar.update, **overrides)
    elapsed = time.perf_counter() - start
    print(f"wrote {n} {args.scenario} snapshots to {args.out} in {elapsed:.1f} s "
          f"({n / elapsed:,.0f} per s)")
    if args.json:
        print(json.dumps(meta))
    return 0
