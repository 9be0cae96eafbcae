"""``rrm gfm pretrain|finetune|eval|stats``: GFM-RA on the D1-D20 catalog.

``eval`` (the quick table and the figure suite) is in :mod:`rrm.models.gfm.eval_cli`;
model building is :mod:`rrm.models.gfm.build`, the loops :mod:`rrm.models.gfm.train`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from rrm.core.errors import InvalidInput
from rrm.models.gfm import eval_cli, stats_cli, stream_cli, utility_cli
from rrm.models.gfm.backbone import PRESETS
from rrm.models.gfm.build import ARCHS, backbone_config, power_model
from rrm.models.gfm.data import load_entry, parse_entries
from rrm.models.gfm.device import DEVICES, resolve_device
from rrm.models.gfm.evaluate import quick_metrics
from rrm.models.gfm.head import PROMPTS, GFMPowerModel
from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig
from rrm.models.gfm.schedule import LR_SCHEDULES
from rrm.models.gfm.store import load_power_model, save_backbone, save_power_model
from rrm.models.gfm.train import FinetuneConfig, finetune, init_distributed, pretrain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``pretrain``, ``finetune``, ``eval`` and ``stats`` under ``rrm gfm``."""
    commands = parser.add_subparsers(dest="gfm_command", required=True, metavar="SUBCOMMAND")
    p = commands.add_parser("pretrain", help="hybrid pre-training of the GFM-RA backbone")
    p.add_argument("--entries", default="D1-D15", help="catalog entries (default D1-D15)")
    p.add_argument("--n-per-entry", type=int, default=256, help="training snapshots per entry")
    p.add_argument("--preset", default="small", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int)
    p.add_argument("--dim", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--edge-value-dim", type=int, default=0,
                   help="edge values per head (our extension; 0 = the paper's attention)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=PretrainConfig.lr)
    p.add_argument("--mask-ratio", type=float, default=PretrainConfig.mask_ratio)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="stop after the epoch that passes S seconds (rerun to continue)")
    p.add_argument("--out", required=True,
                   help="checkpoint directory to write; OUT/resume holds the state after "
                        "every epoch, and the same command run again continues from it")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: CUDA when available (bf16 autocast), else the CPU")
    st = p.add_argument_group("streamed corpus (instead of --entries / --n-per-entry)")
    st.add_argument("--corpus", metavar="SPEC",
                    help="families with weights, e.g. 'catalog:0.4,rayleigh-ic:0.2,"
                         "gaussian-ic:0.2,itu1411-d2d:0.2' or 'world' (that mix); "
                         "snapshots are generated on the fly, never stored")
    st.add_argument("--k-range", default="5-100", help="K of the non-catalog families")
    st.add_argument("--steps-per-epoch", type=int, default=200)
    st.add_argument("--workers", type=int, default=0,
                    help="generator processes (any count gives the same stream)")
    st.add_argument("--log-every", type=int, default=50, help="steps between loss reads")
    ut = p.add_argument_group("utility pre-training (our extension; needs --corpus)")
    ut.add_argument("--utility", choices=[*PROMPTS, "switch"],
                    help="train backbone + power head on the corpus with this objective's "
                         "negative utility (switch: sum, pf and qos prompts) instead of the "
                         "paper's self-supervised losses; writes a power-model checkpoint")
    ut.add_argument("--init-backbone", metavar="DIR",
                    help="with --utility: start from this pre-trained backbone")
    ut.add_argument("--csi-drop", type=float, default=0.0,
                    help="with --utility: hide a share U(0, X) of cross links per batch")
    ut.add_argument("--loss-scale", choices=("rate", "bound"), default="rate",
                    help="with --utility sum: 'bound' divides each snapshot's sum rate by its "
                         "interference-free bound, so every family weighs alike")
    ut.add_argument("--init", metavar="DIR",
                    help="with --utility: continue from this whole model (backbone + head)")
    p.set_defaults(run=run_pretrain)
    f = commands.add_parser("finetune", help="two-stage fine-tuning of a power head")
    f.add_argument("--backbone", help="pre-trained checkpoint (omit: train from scratch)")
    f.add_argument("--arch", default="gfm", choices=ARCHS,
                   help="pcgnn: the MPNN baseline of Shen et al. (always from scratch)")
    f.add_argument("--edge-value-dim", type=int, default=0,
                   help="from scratch: edge values per head (our extension; 0 = paper)")
    f.add_argument("--catalog", default="D18",
                   help="entry or entries (D16-D20, D16,D18): N shots from each")
    f.add_argument("--shots", type=int, default=2048, help="N-shot training set size")
    f.add_argument("--objective", default="sum", choices=[*PROMPTS, "switch"])
    f.add_argument("--warmup-epochs", type=int, default=FinetuneConfig.warmup_epochs)
    f.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    f.add_argument("--batch-size", type=int, default=FinetuneConfig.batch_size)
    f.add_argument("--min-steps-per-epoch", type=int,
                   default=FinetuneConfig.min_steps_per_epoch,
                   help="smaller batches for small N (64 shots -> 8 batches of 8)")
    f.add_argument("--csi-drop", type=float, default=0.0,
                   help="hide a share U(0, X) of cross links per minibatch (robustness to "
                        "missing CSI; our extension)")
    f.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="main-stage rates: constant (the paper) or cosine, decaying both "
                        "groups per minibatch to --lr-floor x their base rate at the last step")
    f.add_argument("--lr-floor", type=float, default=FinetuneConfig.lr_floor,
                   help="with --lr-schedule cosine: final rate as a share of the base rate")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--device", default="auto", choices=DEVICES,
                   help="auto: CUDA when available (bf16 autocast), else the CPU")
    f.add_argument("--eval-n", type=int, default=200, help="test snapshots for the summary")
    f.add_argument("--out", required=True)
    f.add_argument("--from-trace", dest="from_trace", nargs="+", metavar="TRACE",
                   help="site adaptation: fine-tune on the CSI these xApp traces recorded "
                        "(instead of --catalog; starts from --init)")
    f.add_argument("--init", help="start from this whole model (backbone + head, e.g. a "
                                  "utility pre-trained checkpoint); with --from-trace: the "
                                  "checkpoint to adapt (default: the shipped one for "
                                  "--objective)")
    f.add_argument("--holdout", type=float, default=0.25,
                   help="with --from-trace: share of each node's latest slots held out")
    f.set_defaults(run=run_finetune)
    eval_cli.add_parser(commands)
    stats_cli.add_arguments(commands.add_parser(
        "stats", help="write a checkpoint's training-data statistics (shift guard)",
        description=stats_cli.__doc__.splitlines()[0] if stats_cli.__doc__ else None))


def _command(args: argparse.Namespace) -> str:
    return "rrm " + " ".join(shlex.quote(a) for a in args.argv)


def run_pretrain(args: argparse.Namespace) -> int:
    """Pre-train on catalog entries and write the backbone checkpoint (rank 0)."""
    torch.set_num_threads(args.threads)
    rank = init_distributed()
    if args.time_limit is not None and args.time_limit < 0:
        raise InvalidInput("--time-limit must be >= 0 seconds")
    device = resolve_device(args.device)
    if args.utility and not args.corpus:
        raise InvalidInput("--utility needs --corpus (it trains on the streamed corpus)")
    if args.corpus:
        runner = utility_cli.run if args.utility else stream_cli.run
        return runner(args, rank, device)
    names = parse_entries(args.entries)
    sets = [load_entry(n, "train", args.n_per_entry, args.seed) for n in tqdm(
        names, desc="generating", unit="entry", file=sys.stderr)]
    cfg = PretrainConfig(mask_ratio=args.mask_ratio, lr=args.lr)
    model = HybridPretrainer(backbone_config(args.preset, layers=args.layers, dim=args.dim,
                                             heads=args.heads,
                                             edge_value_dim=args.edge_value_dim), cfg)
    resume = Path(args.out) / "resume"
    with tqdm(total=args.epochs, desc="pre-training", unit="epoch", file=sys.stderr,
              disable=rank != 0) as bar:
        def progress(row: dict[str, float]) -> None:
            bar.n = int(row["epoch"])
            bar.refresh()
            bar.set_postfix(edge=f"{row['loss_edge']:.4f}", cl=f"{row['loss_cl']:.4f}")
        history = pretrain(model, sets, args.epochs, args.batch_size, args.lr, args.seed,
                           progress, resume, args.time_limit, device)
    wall = sum(row.get("seconds", 0.0) for row in history)  # every invocation's epochs
    training = {"pretrain": cfg.as_dict(), "entries": names, "n_per_entry": args.n_per_entry,
                "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed}
    done = len(history)
    meta = {"command": _command(args), "wall_time_s": round(wall, 1), "history": history,
            "epochs_done": done,
            "data": {"split": "train", "seed": args.seed}, "threads": args.threads,
            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    if rank != 0:
        return 0
    save_backbone(args.out, model.backbone.cpu(), training, meta)
    if done < args.epochs:
        print(f"stopped at the time limit after epoch {done} of {args.epochs} (backbone so far "
              f"-> {args.out}); run the same command again to continue")
        return 0
    print(f"pre-trained {len(names)} entries x {args.n_per_entry} for {args.epochs} epochs in "
          f"{wall:.0f} s; final L_edge {history[-1]['loss_edge']:.4f}, "
          f"L_cl {history[-1]['loss_cl']:.4f} -> {args.out}")
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    """Fine-tune a head (and the backbone) on N shots; evaluate; write the checkpoint."""
    torch.set_num_threads(args.threads)
    if args.shots < 1:
        raise InvalidInput("--shots must be at least 1")
    if args.batch_size < 1 or args.min_steps_per_epoch < 1:
        raise InvalidInput("--batch-size and --min-steps-per-epoch must be at least 1")
    if not 0 <= args.csi_drop <= 1:
        raise InvalidInput("--csi-drop must lie in [0, 1]")
    if not 0 < args.lr_floor <= 1:
        raise InvalidInput("--lr-floor must lie in (0, 1]")
    torch.manual_seed(args.seed)
    if args.from_trace:
        return run_site_finetune(args)
    switch = args.objective == "switch"
    model = initial_power_model(args, switch)
    entries = parse_entries(args.catalog)
    train_sets = [load_entry(e, "train", args.shots, args.seed) for e in entries]
    cfg = FinetuneConfig("sum" if switch else args.objective, args.warmup_epochs, args.epochs,
                         batch_size=args.batch_size,
                         min_steps_per_epoch=args.min_steps_per_epoch,
                         csi_drop=args.csi_drop, lr_schedule=args.lr_schedule,
                         lr_floor=args.lr_floor)
    start = time.perf_counter()
    total = args.warmup_epochs + args.epochs
    with tqdm(total=total, desc="fine-tuning", unit="epoch", file=sys.stderr) as bar:
        def progress(row: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(stage=row["stage"], loss=f"{row['loss']:.4f}")
        history = finetune(model, train_sets, cfg, args.seed, progress,
                           PROMPTS if switch else None, resolve_device(args.device))
    wall = time.perf_counter() - start
    objectives = list(PROMPTS) if switch else [args.objective]
    metrics = quick_metrics(model, entries, objectives, args.eval_n, args.seed)
    training = {"finetune": cfg.as_dict(), "arch": args.arch, "catalog": args.catalog,
                "shots": args.shots,
                "backbone": args.backbone, "init": args.init, "seed": args.seed,
                "objectives": objectives}
    meta = {"command": _command(args), "wall_time_s": round(wall, 1), "history": history[-5:],
            "data": {"train": f"{args.catalog}/train[:{args.shots}]", "seed": args.seed,
                     "test": f"{args.catalog}/test[:{args.eval_n}]"}, "metrics": metrics}
    meta["shift_stats"] = stats_cli.stats_of_sets(
        train_sets, f"{args.catalog}/train[:{args.shots}] seed {args.seed}").to_json()
    save_power_model(args.out, model, training, meta)
    print(f"fine-tuned in {wall:.0f} s -> {args.out}; {json.dumps(metrics)}")
    return 0



def initial_power_model(args: argparse.Namespace, switch: bool) -> GFMPowerModel:
    """``--init`` (a whole fine-tuned or utility-pre-trained model) or a head on ``--backbone``."""
    if not args.init:
        return power_model(args.arch, args.backbone, args.edge_value_dim, switchable=switch)
    if args.backbone or args.arch != "gfm":
        raise InvalidInput("--init replaces --backbone and --arch: pass one of them")
    model, _ = load_power_model(args.init)
    if switch and model.head.prompt is None:
        raise InvalidInput(f"--init {args.init} has no objective prompts: it cannot be "
                           "fine-tuned for --objective switch")
    return model


def run_site_finetune(args: argparse.Namespace) -> int:
    """``--from-trace``: adapt a fine-tuned model to a site's recorded CSI (few-shot)."""
    from rrm.models.gfm.policy import CHECKPOINTS, DEFAULT_CHECKPOINTS
    from rrm.models.gfm.site import held_out_utility, trace_sets

    if args.objective == "switch":
        raise InvalidInput("--from-trace adapts one objective: pass sum, pf or qos")
    init = args.init or str(CHECKPOINTS / DEFAULT_CHECKPOINTS[args.objective])
    train_sets, held = trace_sets(args.from_trace, args.holdout)
    model, init_meta = load_power_model(init)
    before = held_out_utility(model, held, args.objective)
    cfg = FinetuneConfig(args.objective, args.warmup_epochs, args.epochs,
                         batch_size=args.batch_size, min_steps_per_epoch=args.min_steps_per_epoch,
                         csi_drop=args.csi_drop, lr_schedule=args.lr_schedule,
                         lr_floor=args.lr_floor)
    start = time.perf_counter()
    with tqdm(total=args.warmup_epochs + args.epochs, desc="site fine-tuning", unit="epoch",
              file=sys.stderr) as bar:
        def progress(row: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(stage=row["stage"], loss=f"{row['loss']:.4f}")
        history = finetune(model, train_sets, cfg, args.seed, progress)
    wall = time.perf_counter() - start
    after = held_out_utility(model, held, args.objective)
    shots = sum(len(s.gains) for s in train_sets)
    metrics = {"held_out_utility_before": before["model"], "held_out_utility": after["model"],
               "held_out_utility_wmmse": after["wmmse"], "shots": shots,
               "held_out": sum(len(s.gains) for s in held)}
    training = {"finetune": cfg.as_dict(), "arch": "gfm", "from_trace": list(args.from_trace),
                "init": init, "init_sha256": init_meta.get("sha256", ""), "seed": args.seed,
                "holdout": args.holdout, "objectives": [args.objective]}
    meta = {"command": _command(args), "wall_time_s": round(wall, 1), "history": history[-5:],
            "data": {"train": args.from_trace, "holdout": args.holdout}, "metrics": metrics}
    save_power_model(args.out, model, training, meta)
    print(f"site fine-tuned in {wall:.0f} s -> {args.out}; {json.dumps(metrics)}")
    return 0
