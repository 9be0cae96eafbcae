"""``rrm gfm pretrain --corpus SPEC``: pre-training on the streamed corpus.

Same checkpoint (``--out``), resume state (``OUT/resume``) and ``--time-limit``
contract as the catalog pre-training of :mod:`rrm.models.gfm.cli`: a run
stopped at the limit writes the backbone so far and the same command
continues it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from rrm.core.errors import ConfigError, InvalidInput
from rrm.models.gfm.build import backbone_config
from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig
from rrm.models.gfm.store import save_backbone
from rrm.models.gfm.stream_train import StreamSettings, pretrain_stream
from rrm.sim.scenarios.corpus import CorpusSpec

WORLD = ("catalog:0.3,rayleigh-ic:0.15,gaussian-ic:0.15,itu1411-d2d:0.15,"
         "rayleigh-ic-wide:0.125,itu1411-varied:0.125")  # CorpusSpec()'s mix


def corpus_spec(text: str, k_range: str) -> CorpusSpec:
    """``--corpus`` and ``--k-range`` -> spec; bad input -> InvalidInput (exit 2)."""
    lo, sep, hi = k_range.partition("-")
    try:
        bounds = (int(lo), int(hi if sep else lo))
        return CorpusSpec.parse(WORLD if text == "world" else text, bounds)
    except ValueError:
        raise InvalidInput(f"--k-range must look like 5-100, got {k_range!r}") from None
    except ConfigError as err:
        raise InvalidInput(f"--corpus: {err}") from None


def check_stream_size(args: argparse.Namespace) -> None:
    """Epochs, steps, batch size, logging and workers of a streamed run; InvalidInput if off."""
    for name in ("epochs", "steps_per_epoch", "batch_size", "log_every"):
        if getattr(args, name) < 1:
            raise InvalidInput(f"--{name.replace('_', '-')} must be at least 1")
    if args.workers < 0:
        raise InvalidInput("--workers must be >= 0")


def settings(args: argparse.Namespace) -> StreamSettings:
    """The run's size from the command line, validated."""
    check_stream_size(args)
    return StreamSettings(args.epochs, args.steps_per_epoch, args.batch_size, args.lr,
                          args.seed, args.workers, args.log_every)


def run(args: argparse.Namespace, rank: int, device: torch.device) -> int:
    """Pre-train on the streamed corpus; write the backbone (rank 0)."""
    spec, run_cfg = corpus_spec(args.corpus, args.k_range), settings(args)
    cfg = PretrainConfig(mask_ratio=args.mask_ratio, lr=args.lr)
    model = HybridPretrainer(backbone_config(args.preset, layers=args.layers, dim=args.dim,
                                             heads=args.heads,
                                             edge_value_dim=args.edge_value_dim), cfg)
    with tqdm(total=run_cfg.epochs, desc=f"pre-training ({device})", unit="epoch",
              file=sys.stderr, disable=rank != 0) as bar:
        def progress(row: dict[str, float]) -> None:
            if "epoch" in row:
                bar.n = int(row["epoch"])
                bar.refresh()
            bar.set_postfix(edge=f"{row['loss_edge']:.4f}", cl=f"{row['loss_cl']:.4f}",
                            snaps_s=f"{row['snapshots_per_s']:.0f}")
        history = pretrain_stream(model, spec, run_cfg, device, progress,
                                  Path(args.out) / "resume", args.time_limit)
    if rank != 0:
        return 0
    done, wall = len(history), sum(row.get("seconds", 0.0) for row in history)
    seen = sum(int(row["steps"]) for row in history) * run_cfg.batch_size
    training = {"pretrain": cfg.as_dict(), "corpus": spec.as_dict(),
                "stream": {k: v for k, v in run_cfg.__dict__.items() if k != "log_every"}}
    meta = {"command": "rrm " + " ".join(shlex.quote(a) for a in args.argv),
            "wall_time_s": round(wall, 1), "history": history, "epochs_done": done,
            "snapshots_seen": seen, "device": str(device), "threads": args.threads,
            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    save_backbone(args.out, model.backbone.cpu(), training, meta)
    state = "stopped at the time limit after" if done < run_cfg.epochs else "finished"
    print(f"{state} epoch {done} of {run_cfg.epochs}: {seen} snapshots in {wall:.0f} s on "
          f"{device}; L_edge {history[-1]['loss_edge']:.4f}, L_cl {history[-1]['loss_cl']:.4f}"
          f" -> {args.out}" + ("; run the same command again to continue"
                                if done < run_cfg.epochs else ""))
    return 0
