"""``rrm gfm pretrain --corpus SPEC --utility sum|switch``: utility pre-training.

Our extension (docs/gfm.md, "Utility pre-training"): the whole policy, backbone
and power head, trained on the streamed corpus with the negative utility as
the loss. The result is a fine-tuned-style checkpoint (``kind gfm-power``) that
``rrm solve --checkpoint``, the xApp and ``rrm gfm finetune --init`` load.
Same ``--out``, ``OUT/resume`` and ``--time-limit`` contract as the other
pre-training commands: the same command run again continues the run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from rrm.core.errors import InvalidInput
from rrm.models.gfm.backbone import GFMBackbone
from rrm.models.gfm.build import backbone_config
from rrm.models.gfm.head import PROMPTS, GFMPowerModel, PowerHead
from rrm.models.gfm.shift import ShiftStats, fit_stats
from rrm.models.gfm.store import load_backbone, load_power_model, save_power_model
from rrm.models.gfm.stream import draw_batch
from rrm.models.gfm.stream_cli import check_stream_size, corpus_spec
from rrm.models.gfm.utility_train import UtilitySettings, train_utility_stream
from rrm.sim.scenarios.corpus import CorpusSpec


def settings(args: argparse.Namespace) -> UtilitySettings:
    """The run's size and objectives from the command line, validated."""
    check_stream_size(args)
    if not 0 <= args.csi_drop <= 1:
        raise InvalidInput("--csi-drop must lie in [0, 1]")
    objectives = PROMPTS if args.utility == "switch" else (args.utility,)
    return UtilitySettings(objectives, args.epochs, args.steps_per_epoch, args.batch_size,
                           args.lr, args.seed, args.csi_drop, args.loss_scale, args.workers,
                           args.log_every)


def initial_model(args: argparse.Namespace, switchable: bool) -> GFMPowerModel:
    """``--init`` (a whole power model), or a fresh head on ``--init-backbone`` (a
    pre-trained backbone) or on a fresh backbone."""
    if args.init:
        if args.init_backbone:
            raise InvalidInput("--init and --init-backbone exclude each other")
        model, _ = load_power_model(args.init)
        if switchable != (model.head.prompt is not None):
            raise InvalidInput(f"--init {args.init}: its head "
                               f"{'has' if model.head.prompt is not None else 'has no'} "
                               f"objective prompts; --utility {args.utility} needs the other kind")
        return model
    if args.init_backbone:
        backbone, _ = load_backbone(args.init_backbone)
    else:
        backbone = GFMBackbone(backbone_config(args.preset, layers=args.layers, dim=args.dim,
                                               heads=args.heads,
                                               edge_value_dim=args.edge_value_dim))
    return GFMPowerModel(backbone, PowerHead(backbone.cfg.dim, switchable=switchable))


STATS_BATCHES, STATS_BATCH_SIZE = 64, 32  # corpus snapshots behind the shift statistics


def corpus_shift_stats(spec: CorpusSpec, seed: int) -> ShiftStats:
    """Shift statistics of ``STATS_BATCHES`` corpus batches drawn apart from training
    (stream seed ``seed + 1``): what the model was trained on, in distribution."""
    batches = (draw_batch(spec, STATS_BATCH_SIZE, seed + 1, 0, i) for i in range(STATS_BATCHES))
    return fit_stats(((b.gains.numpy(), b.noise_w.numpy(), b.pmax_w.numpy())
                      for b in batches),
                     f"corpus {spec.as_dict()} stream seed {seed + 1}, "
                     f"{STATS_BATCHES} x {STATS_BATCH_SIZE}")


def run(args: argparse.Namespace, rank: int, device: torch.device) -> int:
    """Train the policy on the streamed corpus; write the checkpoint."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InvalidInput("--utility runs in one process; launch it without torchrun")
    spec, run_cfg = corpus_spec(args.corpus, args.k_range), settings(args)
    model = initial_model(args, switchable=args.utility == "switch")
    with tqdm(total=run_cfg.epochs, desc=f"utility pre-training ({device})", unit="epoch",
              file=sys.stderr) as bar:
        def progress(row: dict[str, float]) -> None:
            if "epoch" in row:
                bar.n = int(row["epoch"])
                bar.refresh()
            bar.set_postfix(loss=f"{row['loss']:.4f}", snaps_s=f"{row['snapshots_per_s']:.0f}")
        history = train_utility_stream(model, spec, run_cfg, device, progress,
                                       Path(args.out) / "resume", args.time_limit)
    done, wall = len(history), sum(row.get("seconds", 0.0) for row in history)
    seen = sum(int(row["steps"]) for row in history) * run_cfg.batch_size
    training = {"utility": run_cfg.resume_key(spec), "arch": "gfm", "init": args.init,
                "backbone": args.init_backbone, "objectives": list(run_cfg.objectives)}
    meta = {"command": "rrm " + " ".join(shlex.quote(a) for a in args.argv),
            "wall_time_s": round(wall, 1), "history": history, "epochs_done": done,
            "snapshots_seen": seen, "device": str(device), "threads": args.threads,
            "shift_stats": corpus_shift_stats(spec, run_cfg.seed).to_json()}
    save_power_model(args.out, model, training, meta)
    state = "stopped at the time limit after" if done < run_cfg.epochs else "finished"
    print(f"{state} epoch {done} of {run_cfg.epochs}: {seen} snapshots in {wall:.0f} s on "
          f"{device}; loss {history[-1]['loss']:.4f} -> {args.out}"
          + ("; run the same command again to continue" if done < run_cfg.epochs else ""))
    return 0
