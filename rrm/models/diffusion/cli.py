"""``rrm diffusion data|train|eval``: the graph diffusion policy (seed 004).

* ``data``: primal-dual expert samples over 4 densities x 5 f_min
  levels (resumable), plus the expert-dynamics figure (paper Fig. 1).
* ``train``: the U-GNN denoiser with the DDPM objective (resumable),
  validated by the ergodic rates of generated samples; writes a checkpoint.
* ``eval``: Figs. 2-4 and a markdown summary under ``--out`` (``--data``), or
  the checkable run on fresh networks (``--pairs N --networks M --f-min F
  --seed S [--json]``, :mod:`rrm.models.diffusion.check`): the last line of
  stdout is ``{"pairs", "f_min", "policies": {"ugnn", "expert", "ap", "fp"}}``.

Old names (one release): ``diffusion-data``, ``train-diffusion``, ``eval-diffusion``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rrm.core.errors import InvalidInput
from rrm.core.optional import require
from rrm.models.diffusion.check import CheckConfig, check_policies, expert_for
from rrm.models.diffusion.data import (
    ExpertDataConfig,
    ExpertSet,
    generate_expert_data,
    load_expert_data,
)
from rrm.models.diffusion.expert import ExpertConfig
from rrm.models.diffusion.model import GraphDiffusion, load_diffusion, save_diffusion
from rrm.models.diffusion.plots import (
    plot_expert_dynamics,
    plot_fmin_sweep,
    plot_time_evolution,
    plot_transfer,
)
from rrm.models.diffusion.schedule import DdimConfig
from rrm.models.diffusion.study import compare_policies, fmin_sweep, transfer
from rrm.models.diffusion.train import TrainConfig, train
from rrm.models.diffusion.ugnn import UGNN, UGNNConfig
from rrm.sim.scenarios.ergodic import F_MIN_LEVELS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``data``, ``train`` and ``eval`` under ``rrm diffusion``."""
    commands = parser.add_subparsers(dest="diffusion_command", required=True,
                                     metavar="SUBCOMMAND")
    d = commands.add_parser("data", help="primal-dual expert samples (seed 004)")
    d.add_argument("--out", required=True, help="directory of density-*.npz (resumable)")
    d.add_argument("--num-pairs", type=int, default=ExpertDataConfig.num_pairs,
                   help="N per network (paper 400; 20 for a CPU)")
    d.add_argument("--networks", type=int, default=ExpertDataConfig.networks_per_density,
                   help="networks per density (paper 32)")
    d.add_argument("--iterations", type=int, default=ExpertConfig.iterations)
    d.add_argument("--window", type=int, default=ExpertConfig.window)
    d.add_argument("--samples", type=int, default=ExpertConfig.samples)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--threads", type=int, default=1, help="torch threads (small tensors: 1)")
    d.add_argument("--device", default="cpu", help="torch device of the expert (cpu, cuda)")
    d.set_defaults(run=run_data)
    t = commands.add_parser("train", help="train the U-GNN diffusion policy")
    t.add_argument("--data", required=True, help="directory written by 'rrm diffusion data'")
    t.add_argument("--out", required=True, help="checkpoint directory")
    t.add_argument("--steps", type=int, default=TrainConfig.steps)
    t.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    t.add_argument("--save-every", type=int, default=TrainConfig.save_every,
                   help="steps between resume states (<out>/resume)")
    t.add_argument("--no-validate", action="store_true",
                   help="skip validation sampling (costly at N = 400 on a CPU)")
    t.add_argument("--resume-from", help="resume state to continue (copied to <out>/resume "
                   "when that is empty), e.g. a GPU job's train/resume")
    t.add_argument("--time-limit-s", type=float,
                   help="stop after this many seconds, keep <out>/resume and write the model")
    t.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    t.add_argument("--channels", type=int, default=UGNNConfig.channels)
    t.add_argument("--embed-dim", type=int, default=UGNNConfig.embed_dim)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.set_defaults(run=run_train)
    e = commands.add_parser("eval", help="Figs. 2-4: U-GNN vs expert vs AP vs FP")
    e.add_argument("--data", help="directory written by 'rrm diffusion data' (with --out)")
    e.add_argument("--checkpoint", help="diffusion checkpoint (default: the shipped one "
                   "for the networks' N: diffusion-n400 from N = 100 on, else diffusion-small)")
    e.add_argument("--out", help="directory for report.md, PNGs, JSON (with --data)")
    e.add_argument("--pairs", type=int,
                   help="checkable run: fresh test networks of N pairs (instead of --data)")
    e.add_argument("--networks", type=int, default=8,
                   help="with --pairs: networks, round-robin over the 4 densities")
    e.add_argument("--expert-iterations", type=int, default=ExpertConfig.iterations,
                   help="with --pairs: primal-dual iterations of the expert")
    e.add_argument("--json", action="store_true",
                   help="with --pairs: print only the JSON summary line")
    e.add_argument("--f-min", type=float, default=0.6, help="reference f_min (paper 0.6)")
    e.add_argument("--slots", type=int, default=500, help="time-sharing slots (paper 500)")
    e.add_argument("--samples", type=int, default=100, help="U-GNN samples per network")
    e.add_argument("--sizes", default="10,20,40,80", help="N for the transfer study")
    e.add_argument("--ddim-steps", type=int, default=DdimConfig.num_inference_steps,
                   help="DDIM steps (sec. 3.1: 100)")
    e.add_argument("--eta", type=float, default=DdimConfig.eta, help="DDIM eta (authors: 0.2)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=2)
    e.set_defaults(run=run_eval)


def _command(args: argparse.Namespace) -> str:
    return "rrm " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []))


def run_data(args: argparse.Namespace) -> int:
    """Generate the expert data set and plot the expert's dynamics (Fig. 1)."""
    require("matplotlib")  # Fig. 1 at the end: fail before the expert runs
    torch.set_num_threads(args.threads)
    expert = ExpertConfig(iterations=args.iterations, window=args.window, samples=args.samples)
    cfg = ExpertDataConfig(args.num_pairs, args.networks, seed=args.seed, expert=expert)
    total = len(cfg.densities) * expert.iterations
    with tqdm(total=total, desc="expert", unit="it", file=sys.stderr) as bar:
        paths = generate_expert_data(cfg, args.out,
                                     lambda i, it: bar.update(100) if it else None, args.device)
        bar.update(total - bar.n)
    z = np.load(paths[0], allow_pickle=False)
    fig = plot_expert_dynamics(z["duals"], z["violated"], z["worst_slack"],
                               np.asarray(cfg.f_min_levels), Path(args.out) / "expert_dynamics.png")
    (Path(args.out) / "config.json").write_text(json.dumps(
        {**cfg.as_dict(), "command": _command(args)}, indent=1) + "\n")
    print(f"{len(paths)} density files in {args.out}; Fig. 1 -> {fig}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train and write the checkpoint (resume state in <out>/resume while running).

    A run stopped by ``--time-limit-s`` keeps ``<out>/resume``; the same
    command goes on from there.
    """
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = _resume_dir(args)
    data, val = load_expert_data(args.data, "train"), load_expert_data(args.data, "val")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      val_every=args.val_every, save_every=args.save_every, seed=args.seed)
    model = GraphDiffusion(UGNN(UGNNConfig(channels=args.channels, embed_dim=args.embed_dim)))
    start = time.perf_counter()
    with tqdm(total=cfg.steps, desc="training", unit="step", file=sys.stderr) as bar:
        def progress(step: int, row: dict[str, float]) -> None:
            bar.update(step - bar.n)
            if "step" in row:
                tqdm.write(json.dumps(row), file=sys.stderr)
            elif step % 50 == 0:
                bar.set_postfix(loss=f"{row['loss']:.4f}")
        history = train(model, data, None if args.no_validate else val, cfg, resume, progress,
                        device=args.device, time_limit_s=args.time_limit_s)
    wall = time.perf_counter() - start
    steps = int(history[-1]["step"]) if history else cfg.steps
    meta = {"command": _command(args), "wall_time_s": round(wall, 1),
            "machine": "2-core CPU", "threads": args.threads, "history": history,
            "steps": steps, "data": {"dir": str(args.data), "train_instances": len(data),
                                     "val_instances": len(val),
                                     "num_pairs": int(data.samples.shape[-1])}}
    model.denoiser.cpu()
    save_diffusion(args.out, model, cfg.as_dict(), meta)
    if steps >= cfg.steps:
        shutil.rmtree(resume, ignore_errors=True)
    print(f"trained to step {steps} in {wall:.0f} s -> {args.out}; "
          f"last row {json.dumps(history[-1])}")
    return 0


def _resume_dir(args: argparse.Namespace) -> Path:
    """``<out>/resume``, seeded from ``--resume-from`` when it holds no state yet."""
    resume = Path(args.out) / "resume"
    if args.resume_from is not None and not (resume / "metadata.json").is_file():
        if not (Path(args.resume_from) / "metadata.json").is_file():
            raise InvalidInput(f"no resume state in {args.resume_from!r} (metadata.json)")
        shutil.copytree(args.resume_from, resume, dirs_exist_ok=True)
    return resume


def run_eval(args: argparse.Namespace) -> int:
    """The checkable run (``--pairs``) or the study on a data set (``--data --out``)."""
    if args.pairs is not None:
        return run_check(args)
    if args.data is None or args.out is None:
        raise InvalidInput("eval needs --pairs N (fresh networks) or --data DIR --out DIR")
    return run_study(args)


def run_check(args: argparse.Namespace) -> int:
    """Fresh networks from ``--seed``; the last stdout line is the JSON summary."""
    torch.set_num_threads(args.threads)
    cfg = CheckConfig(args.pairs, args.networks, args.f_min, args.seed, args.slots,
                      args.samples, expert_for(args.expert_iterations))
    model, _ = load_diffusion(args.checkpoint, pairs=cfg.pairs)
    model = model.with_ddim(DdimConfig(args.ddim_steps, args.eta))  # ConfigError: exit 2
    policies = check_policies(model, cfg)
    if not args.json:
        print(f"| policy ({cfg.networks} networks, N = {cfg.pairs}, f_min = {cfg.f_min}) "
              f"| p1 | p5 | mean | feasibility |\n|---|---|---|---|---|")
        for name, m in policies.items():
            print(f"| {name} | {m['p1']:.3f} | {m['p5']:.3f} | {m['mean']:.3f} | "
                  f"{m['feasibility']:.1%} |")
    print(json.dumps({"pairs": cfg.pairs, "f_min": cfg.f_min, "policies": policies}))
    return 0


def run_study(args: argparse.Namespace) -> int:
    """Write report.md, results.json and the figures of Figs. 2-4 under ``--out``."""
    require("matplotlib")
    torch.set_num_threads(args.threads)
    model, meta, test = _study_inputs(args.checkpoint, args.data)
    model = model.with_ddim(DdimConfig(args.ddim_steps, args.eta))  # ConfigError: exit 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        raise InvalidInput(f"--sizes must be comma-separated integers, got {args.sizes!r}") \
            from None
    steps = tqdm(total=3, desc="evaluating", unit="study", file=sys.stderr)
    comp = compare_policies(model, test, args.f_min, args.slots, args.samples, args.seed)
    plot_time_evolution(comp.curves, args.f_min, out / "time_evolution.png")
    steps.update()
    levels = np.round(np.arange(0.3, 0.801, 0.05), 2)
    sweep = fmin_sweep(model, test, levels, args.slots // 2, args.samples // 2, args.seed)
    plot_fmin_sweep(levels, sweep, {round(f, 2) for f in F_MIN_LEVELS}, out / "fmin_sweep.png")
    steps.update()
    moves = transfer(model, sizes, 2, args.f_min, args.slots // 2, args.samples // 2, args.seed)
    plot_transfer(sizes, moves, args.f_min, out / "transfer.png")
    steps.update()
    steps.close()
    results = {"command": _command(args), "checkpoint": str(args.checkpoint or "shipped"),
               "ddim": {"steps": args.ddim_steps, "eta": args.eta},
               "checkpoint_command": meta.get("command"), "f_min": args.f_min,
               "slots": args.slots, "test_instances": comp.instances,
               "final": comp.final, "fmin_sweep": sweep, "transfer": moves}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "report.md").write_text(_markdown(results))
    print(_markdown(results))
    return 0


def _study_inputs(checkpoint: str | None, data: str
                  ) -> tuple[GraphDiffusion, dict[str, Any], ExpertSet]:
    """Model, its metadata and the test split; a given checkpoint loads (or fails) first,
    the shipped one is chosen by the data's N (:func:`shipped_for`)."""
    if checkpoint is not None:
        model, meta = load_diffusion(checkpoint)
        return model, meta, load_expert_data(data, "test")
    test = load_expert_data(data, "test")
    model, meta = load_diffusion(pairs=int(test.samples.shape[-1]))
    return model, meta, test


def _markdown(r: dict[str, Any]) -> str:
    lines = ["# Graph-signal diffusion policy: evaluation", "", f"Command: `{r['command']}`", "",
             f"## Time sharing at f_min = {r['f_min']} ({r['test_instances']} test networks, "
             f"{r['slots']} slots)", "", "![](time_evolution.png)", "",
             "| policy | p1 | p5 | mean | feasibility | Jain |", "|---|---|---|---|---|---|"]
    for name, m in r["final"].items():
        lines.append(f"| {name} | {m['p1']:.3f} | {m['p5']:.3f} | {m['mean']:.3f} | "
                     f"{m['feasibility']:.1%} | {m['jain']:.3f} |")
    lines += ["", "## Unseen f_min (U-GNN; training levels 0.4-0.8 in steps of 0.1)", "",
              "![](fmin_sweep.png)", "", "| f_min | p1 | p5 | p10 | mean | feasibility |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {s['f_min']:.2f} | {s['p1']:.3f} | {s['p5']:.3f} | {s['p10']:.3f} | "
              f"{s['mean']:.3f} | {s['feasibility']:.1%} |" for s in r["fmin_sweep"]]
    lines += ["", f"## Transfer to other N (f_min = {r['f_min']})", "", "![](transfer.png)", "",
              "| N | p1 | p5 | mean | feasibility | FP p5 | FP feasibility |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {t['N']} | {t['p1']:.3f} | {t['p5']:.3f} | {t['mean']:.3f} | "
              f"{t['feasibility']:.1%} | {t['fp_p5']:.3f} | {t['fp_feasibility']:.1%} |"
              for t in r["transfer"]]
    return "\n".join(lines) + "\n"
