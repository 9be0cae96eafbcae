"""``rrm gfm stats``: the training-data statistics a checkpoint's shift guard needs.

New fine-tuned checkpoints carry them from ``rrm gfm finetune``; older ones
get them from this command, which regenerates the training snapshots from
the data spec the checkpoint recorded (``metadata.json``: ``data.train`` =
``D16-D20/train[:2048]``, ``data.seed``), fits
:class:`rrm.models.gfm.shift.ShiftStats` and writes them into
``metadata.json`` under ``shift_stats``. The weights are not touched: their
sha256 is checked before and after.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from rrm.core.errors import CheckpointError, InvalidInput
from rrm.models.checkpoint import METADATA, WEIGHTS, load_checkpoint, sha256_of
from rrm.models.gfm.data import GraphSet, load_entry, parse_entries
from rrm.models.gfm.shift import ShiftStats, fit_stats

TRAIN_SPEC = re.compile(r"^(?P<catalog>[^/]+)/train\[:(?P<n>\d+)\]$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of ``rrm gfm stats``."""
    p.add_argument("--checkpoint", required=True, help="fine-tuned GFM / PCGNN checkpoint dir")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON last")
    p.set_defaults(run=run_stats)


def stats_of_sets(sets: list[GraphSet], source: str) -> ShiftStats:
    """Shift statistics of the training sets a model was fine-tuned on."""
    return fit_stats(((s.gains.numpy(), s.noise_w, s.pmax_w) for s in sets), source)


def training_sets(metadata: dict[str, Any]) -> tuple[list[GraphSet], str]:
    """The training snapshots a checkpoint's metadata names, and their spec."""
    data = metadata.get("data") or {}
    match = TRAIN_SPEC.match(str(data.get("train", "")))
    if match is None or "seed" not in data:
        raise CheckpointError(f"metadata has no catalog training spec (data.train = "
                              f"{data.get('train')!r}; want e.g. 'D16-D20/train[:2048]')")
    n, seed = int(match["n"]), int(data["seed"])
    entries = parse_entries(match["catalog"])
    print(f"regenerating {match['catalog']} train[:{n}] (seed {seed})", file=sys.stderr)
    return [load_entry(e, "train", n, seed) for e in entries], f"{data['train']} seed {seed}"


def run_stats(args: argparse.Namespace) -> int:
    """Regenerate the training snapshots, fit, write ``shift_stats`` into metadata.json."""
    directory = Path(args.checkpoint)
    if not directory.is_dir():
        raise InvalidInput(f"--checkpoint {str(directory)!r} is not a directory")
    _, config, metadata = load_checkpoint(directory)  # verifies the sha256
    if config.get("kind") != "gfm-power":
        raise CheckpointError(f"{str(directory)!r} is not a fine-tuned GFM checkpoint "
                              f"(kind {config.get('kind')!r})")
    before = sha256_of(directory / WEIGHTS)
    sets, source = training_sets(metadata)
    stats = stats_of_sets(sets, source)
    metadata["shift_stats"] = stats.to_json()
    (directory / METADATA).write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    if sha256_of(directory / WEIGHTS) != before:  # pragma: no cover - we never write weights
        raise CheckpointError("weights changed while writing statistics")
    load_checkpoint(directory)
    q = dict(zip(("min", "0.1%", "1%", "median", "99%", "99.9%", "max"),
                 stats.score_quantiles, strict=True))
    print(f"{directory}: shift_stats of {stats.n} snapshots ({source}); training scores "
          + ", ".join(f"{k} {v:.2f}" for k, v in q.items()))
    if args.json:
        print(json.dumps(stats.to_json()))
    return 0
