"""``rrm egat train|eval``: the cell-free EGAT method (seed 002).

Old names (one release): ``train-egat``, ``eval-cellfree``. The evaluation
command is :mod:`rrm.models.cellfree.eval_cli`; the model is built by
:func:`rrm.models.cellfree.train.build_model`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import structlog
import torch

from rrm.core.errors import InvalidInput
from rrm.models.cellfree.dnn import DnnConfig
from rrm.models.cellfree.egat import EgatConfig
from rrm.models.cellfree.eval_cli import add_eval_parser
from rrm.models.cellfree.store import load_egat, save_egat
from rrm.models.cellfree.train import TrainConfig, TrainLog, build_model, train_egat
from rrm.models.checkpoint import load_checkpoint

log = structlog.get_logger("rrm.cli.cellfree")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``train`` and ``eval`` under ``rrm egat``."""
    commands = parser.add_subparsers(dest="egat_command", required=True, metavar="SUBCOMMAND")
    p = commands.add_parser("train", help="train EGAT (primal-dual + REINFORCE, Alg. 2)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--time-limit", type=float, default=0.0,
                   help="stop after this many seconds of training (0: run every step)")
    p.add_argument("--stop-at", type=float, default=0.0,
                   help="stop training at this Unix time (s), whatever the startup took; "
                        "overrides --time-limit (for jobs with a wall-clock budget)")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--samples", type=int, default=TrainConfig.samples,
                   help="association samples per instance")
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--dual-lr", type=float, default=TrainConfig.dual_lr)
    p.add_argument("--margin", type=float, default=TrainConfig.margin)
    p.add_argument("--aps", type=int, default=TrainConfig.num_aps)
    p.add_argument("--ues", type=int, default=TrainConfig.num_ues)
    p.add_argument("--width", type=int, default=EgatConfig.width)
    p.add_argument("--heads", type=int, default=EgatConfig.heads)
    p.add_argument("--layers", type=int, default=EgatConfig.layers)
    p.add_argument("--no-attention", action="store_true",
                   help="ENGNN-style ablation: mean aggregation instead of attention")
    p.add_argument("--power-control", action="store_true",
                   help="per-AP power share head (APs may transmit below budget)")
    p.add_argument("--arch", default="egat", choices=["egat", "dnn"],
                   help="dnn: the fully connected ablation (fixed --aps and --ues)")
    p.add_argument("--dnn-width", type=int, default=DnnConfig.width)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true",
                   help="save the full state to OUT.resume after every epoch and continue "
                        "from it if present (bit-exact)")
    p.add_argument("--epoch-steps", type=int, default=TrainConfig.epoch_steps,
                   help="steps between resume states")
    p.add_argument("--sizes", default="",
                   help="mix of sizes BxK drawn per step, e.g. 7x4,8x4,10x4,8x7 "
                        "(default: --aps x --ues only)")
    p.add_argument("--capacities", default=",".join(f"{c:g}" for c in TrainConfig.capacities_mbps),
                   help="fronthaul capacities drawn per step, Mbit/s")
    p.add_argument("--validate-every", type=int, default=TrainConfig.validate_every)
    p.add_argument("--val-rate-cap", action="store_true",
                   help="validate the deployed policy (rate cap on) rather than the raw network")
    p.add_argument("--lr-patience", type=int, default=0,
                   help="halve the lr after this many validations without a new best (0: off)")
    p.add_argument("--mu-init", type=float, default=None,
                   help="starting multiplier of every AP (default: --init's, else 0); with "
                        "--dual-lr 0 a fixed penalty: about C/W makes it the rate the "
                        "deployed rate cap removes")
    p.add_argument("--device", default="cpu",
                   help="torch device to train on (cpu, cuda, cuda:1); checkpoints load on any")
    p.add_argument("--init", help="start from this EGAT checkpoint's weights (same model sizes)")
    p.set_defaults(run=run_train)
    add_eval_parser(commands)


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"7x4,8x5"`` -> ``((7, 4), (8, 5))``."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            b, k = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise InvalidInput(f"--sizes takes BxK pairs like 8x4, got {item!r}") from None
        if b < 1 or k < 1:
            raise InvalidInput(f"--sizes needs positive B and K, got {item!r}")
        out.append((b, k))
    return tuple(out)


def _capacities(text: str) -> tuple[float, ...]:
    try:
        caps = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInput(f"--capacities must be comma-separated numbers, got {text!r}"
                           ) from None
    if not caps or min(caps) <= 0:
        raise InvalidInput(f"--capacities needs positive values, got {text!r}")
    return caps


def _check(args: argparse.Namespace) -> None:
    for name in ("steps", "batch_size", "samples", "aps", "ues", "width", "heads", "layers",
                 "threads", "dnn_width", "epoch_steps"):
        if getattr(args, name) < 1:
            raise InvalidInput(f"--{name.replace('_', '-')} must be at least 1")
    if args.width % args.heads:
        raise InvalidInput(f"--width {args.width} must be a multiple of --heads {args.heads}")
    if not 0.0 <= args.margin < 1.0:
        raise InvalidInput(f"--margin must be in [0, 1), got {args.margin}")


def _device(name: str) -> torch.device:
    """``--device`` checked: an unknown or absent device is an input error."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InvalidInput(f"--device must be a torch device like cpu or cuda, got {name!r}"
                           ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("--device cuda, but torch sees no CUDA device")
    return device


def _machine(device: torch.device) -> str:
    """The metadata's machine line: the GPU's name, or the CPU's torch threads."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {torch.get_num_threads()} torch threads"
    return f"CPU, {torch.get_num_threads()} torch threads"


def run_train(args: argparse.Namespace) -> int:
    """Train and write a checkpoint with the command and wall time in its metadata."""
    _check(args)
    torch.set_num_threads(args.threads)
    sizes = _sizes(args.sizes)
    if sizes and args.arch == "dnn":
        raise InvalidInput("--sizes needs --arch egat (the DNN has one size)")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, samples=args.samples,
                      lr=args.lr, dual_lr=args.dual_lr, margin=args.margin, num_aps=args.aps,
                      num_ues=args.ues, seed=args.seed, time_limit_s=args.time_limit,
                      sizes=sizes, epoch_steps=args.epoch_steps,
                      capacities_mbps=_capacities(args.capacities),
                      validate_every=max(args.validate_every, 0),
                      val_rate_cap=args.val_rate_cap, lr_patience=max(args.lr_patience, 0))
    device = _device(args.device)
    torch.manual_seed(args.seed)
    model = build_model(args.arch, num_aps=args.aps, num_ues=args.ues, width=args.width,
                        heads=args.heads, layers=args.layers, attention=not args.no_attention,
                        power_control=args.power_control, dnn_width=args.dnn_width)
    mu0 = None
    if args.init:
        init, _ = load_egat(args.init)
        mu0 = torch.tensor(load_checkpoint(args.init)[1]["mu"], dtype=torch.float32)
        if init.cfg != model.cfg:
            raise InvalidInput(f"--init {args.init} has model {init.cfg.as_dict()}, "
                               f"not {model.cfg.as_dict()}")
        model.load_state_dict(init.state_dict())
    if args.mu_init is not None:
        if args.mu_init < 0:
            raise InvalidInput(f"--mu-init must be >= 0, got {args.mu_init}")
        mu0 = torch.tensor([args.mu_init])
    resume_dir = Path(args.out + ".resume") if args.resume else None
    if args.stop_at:  # counted from here: imports and the model build are behind us
        cfg = replace(cfg, time_limit_s=max(args.stop_at - time.time(), 1.0))
    log.info("train_egat_start", config=cfg.as_dict(), model=model.cfg.as_dict())

    def progress(step: int, hist: TrainLog) -> None:
        print(f"step {step}: wsr {hist.wsr[-1]:.3f} violation {hist.violation[-1]:.3f} "
              f"loss {hist.loss[-1]:.3f} mu_mean {sum(hist.mu[-1]) / len(hist.mu[-1]):.2f} "
              f"val {hist.val_metric[-1] if hist.val_metric else float('nan'):.3f}",
              file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    mu, hist = train_egat(model, cfg, log_every=100, progress=progress, resume_dir=resume_dir,
                          mu0=mu0, device=device)
    wall = time.perf_counter() - t0
    argv = getattr(args, "argv", None)
    command = "rrm " + shlex.join(argv) if argv else "rrm egat train"
    done = hist.steps_done
    meta = {"command": command, "wall_time_s": round(hist.wall_s, 1), "steps_done": done,
            "steps_target": cfg.steps, "resumed_from": str(resume_dir) if resume_dir else None,
            "machine": _machine(device),
            "best_step": hist.best_step, "lr_decay_steps": hist.lr_decay_steps,
            "history": {"step": hist.step, "wsr": hist.wsr, "violation": hist.violation,
                        "val_step": hist.val_step, "val_feasible_wsr": hist.val_metric}}
    out = save_egat(Path(args.out), model, mu, cfg.as_dict(), meta)
    last = (f"last sampled wsr {hist.wsr[-1]:.3f}, violation {hist.violation[-1]:.3f}"
            if hist.wsr else "no step logged")
    print(f"wrote {out} (best validation at step {hist.best_step}) at step {done} of "
          f"{cfg.steps}; this piece {wall:.0f} s, run {hist.wall_s:.0f} s ({last})")
    return 0
