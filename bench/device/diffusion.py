"""GPU job of issue #15: the N = 400 expert data set, its feasibility check, and a first model.

Run by ``bench/device/diffusion.sh OUTDIR BUDGET_S`` (see there); every
phase keeps to a share of the wall-clock budget and leaves its results on
disk as it goes, so a run cut short still returns what it finished:

1. **Expert** (``--expert-share`` of the budget): the primal-dual expert on
   ``--parts`` parts of ``--networks`` networks per density (4 densities x 5
   f_min levels, one batched run per density on the device), each part a
   compact data directory ``data/part-<p>`` (uint8 samples, networks
   regenerated from the seed). Parts are written one after another, so an
   early stop keeps every density balanced.
2. **Check**: the expert's time-shared ergodic rates on its own instances
   (500 slots, eq. 15), per f_min, against the target (~99 % feasibility):
   ``expert.json``.
3. **Train** (the rest, less ``--reserve-s`` for packing): the U-GNN on the
   ``train`` split of every part, resumable (``train/resume``), then the
   checkpoint ``train/checkpoint``.

    PYTHONPATH=$PWD python3 bench/device/diffusion.py --out OUT --budget-s 450 --device cuda
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rrm.models.diffusion.data import (
    ExpertDataConfig,
    generate_expert_data,
    load_expert_data,
    networks_of,
    samples_of,
)
from rrm.models.diffusion.evaluate import ergodic_rates_torch, metrics
from rrm.models.diffusion.expert import ExpertConfig
from rrm.models.diffusion.model import GraphDiffusion, save_diffusion
from rrm.models.diffusion.train import TrainConfig, train
from rrm.models.diffusion.ugnn import UGNN, UGNNConfig

START = [time.time()]  # wall clock of the job's start (--started-at: before the imports)


def elapsed() -> float:
    """Seconds since the job started."""
    return time.time() - START[0]


def say(event: str, **kv: Any) -> None:
    """One JSON line on stdout (the job's log)."""
    print(json.dumps({"event": event, "t_s": round(elapsed(), 1), **kv}), flush=True)


def expert_phase(a: argparse.Namespace, out: Path) -> list[Path]:
    """Expert data parts until ``--parts`` or the phase's time share is used up."""
    expert = ExpertConfig(iterations=a.iterations, window=a.window, samples=a.samples,
                          margin=a.margin, fading_samples=a.fading_samples,
                          primal_beta2=a.beta2)
    stop_at = a.expert_share * a.budget_s
    parts: list[Path] = []
    part_s = 0.0
    for p in range(a.parts):
        if elapsed() + part_s > stop_at:  # the next part would not finish in its share
            say("expert_phase_stopped", parts=p, next_part_s=round(part_s, 1))
            break
        t0 = elapsed()
        cfg = ExpertDataConfig(num_pairs=a.pairs, networks_per_density=a.networks,
                               seed=a.seed * 100 + p, expert=expert, compact=True)
        d = out / "data" / f"part-{p}"
        paths = generate_expert_data(cfg, d, _progress(p), a.device)
        (d / "config.json").write_text(json.dumps(cfg.as_dict(), indent=1) + "\n")
        part_s = elapsed() - t0
        say("expert_part_done", part=p, seconds=round(part_s, 1))
        check_part(a, p, paths, out)
        parts.append(d)
    return parts


def _progress(part: int) -> Callable[[int, int], None]:
    """Log every 500th expert iteration of each density (the log shows the device's speed)."""
    def report(density: int, iteration: int) -> None:
        if iteration % 500 == 0:
            say("expert", part=part, density=density, iteration=iteration)
    return report


def check_part(a: argparse.Namespace, part: int, paths: list[Path], out: Path) -> None:
    """Expert / AP / FP ergodic metrics of one part, per f_min, appended to expert.json."""
    dev = torch.device(a.device)
    rows: list[dict[str, Any]] = []
    for path in paths:
        z = np.load(path, allow_pickle=False)
        large = torch.as_tensor(networks_of(z)[z["network"]], device=dev)  # (I, N, N)
        shares = torch.as_tensor(samples_of(z), dtype=torch.float32, device=dev)  # (I, S, N)
        policies = {"expert": shares, "ap": shares.mean(1, keepdim=True),
                    "fp": torch.ones_like(shares[:, :1])}
        for name, s in policies.items():
            gen = torch.Generator(device=dev).manual_seed(a.seed)
            r = ergodic_rates_torch(large, s, float(z["noise_w"]), float(z["pmax_w"]),
                                    a.slots, gen).double().cpu().numpy()
            for f in np.unique(z["f_min"]):
                keep = z["f_min"] == f
                m = metrics(r[keep], z["f_min"][keep]).as_dict()
                rows.append({"part": part, "density": float(z["density"]), "f_min": float(f),
                             "policy": name, **m})
    summary = _summary(rows)
    say("expert_checked", part=part, **summary)
    log = out / "expert.json"
    old = json.loads(log.read_text()) if log.exists() else {"rows": []}
    old["rows"] += rows
    old["summary_by_part"] = {**old.get("summary_by_part", {}), str(part): summary}
    log.write_text(json.dumps(old, indent=1) + "\n")


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean feasibility and p5 per policy at each f_min (over densities)."""
    out: dict[str, Any] = {}
    for name in ("expert", "ap", "fp"):
        for f in sorted({r["f_min"] for r in rows}):
            sel = [r for r in rows if r["policy"] == name and r["f_min"] == f]
            out[f"{name}@{f:g}"] = {"feasibility": round(float(np.mean(
                [r["feasibility"] for r in sel])), 4), "p5": round(float(np.mean(
                    [r["p5"] for r in sel])), 4)}
    return out


def train_phase(a: argparse.Namespace, out: Path) -> None:
    """Train on every part's train split until the budget less the reserve is used up."""
    left = a.budget_s - a.reserve_s - elapsed()
    if left < 30:
        say("train_skipped", seconds_left=round(left, 1))
        return
    data, val = load_expert_data(out / "data", "train"), load_expert_data(out / "data", "val")
    say("train_data", train_instances=len(data), val_instances=len(val),
        samples=int(data.samples.shape[1]), pairs=int(data.samples.shape[2]))
    torch.manual_seed(a.seed)
    cfg = TrainConfig(steps=a.train_steps, batch_size=a.batch_size, lr=a.lr,
                      val_every=a.log_every, save_every=a.log_every, seed=a.seed)
    model = GraphDiffusion(UGNN(UGNNConfig()))
    left = a.budget_s - a.reserve_s - elapsed()  # loading took some
    t0 = elapsed()
    history = train(model, data, None, cfg, out / "train" / "resume",
                    lambda step, row: say("train", **row) if "step" in row else None,
                    device=a.device, time_limit_s=max(1.0, left))
    wall = elapsed() - t0
    model.denoiser.cpu()
    gpu = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    meta = {"command": "bench/device/diffusion.sh", "wall_time_s": round(wall, 1),
            "machine": f"{a.device} ({gpu}, shared)", "history": history,
            "data": {"dir": "data", "train_instances": len(data), "val_instances": len(val),
                     "num_pairs": int(data.samples.shape[-1])}}
    save_diffusion(out / "train" / "checkpoint", model, cfg.as_dict(), meta)
    say("train_done", steps=history[-1]["step"] if history else 0, seconds=round(wall, 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--budget-s", type=float, required=True, help="wall clock of this script")
    p.add_argument("--device", default="cuda")
    p.add_argument("--pairs", type=int, default=400)
    p.add_argument("--networks", type=int, default=8, help="networks per density per part")
    p.add_argument("--parts", type=int, default=4, help="paper: 32 networks = 4 parts of 8")
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--samples", type=int, default=32, help="kept samples per instance")
    p.add_argument("--margin", type=float, default=0.15, help="dual target f_min + margin")
    p.add_argument("--beta2", type=float, default=0.9,
                   help="Adam beta2 of the primal: 0.9 lets starved users switch back on")
    p.add_argument("--fading-samples", type=int, default=16)
    p.add_argument("--slots", type=int, default=500)
    p.add_argument("--expert-share", type=float, default=0.5, help="of the budget")
    p.add_argument("--reserve-s", type=float, default=30, help="left for packing")
    p.add_argument("--train-steps", type=int, default=100_000, help="the time limit stops it")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=40)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--started-at", type=float, help="epoch seconds the budget counts from")
    a = p.parse_args()
    if a.started_at is not None:
        START[0] = a.started_at
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    say("start", **{k: v for k, v in vars(a).items()},
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    parts = expert_phase(a, out)
    if parts:
        train_phase(a, out)
    say("done")


if __name__ == "__main__":
    main()
