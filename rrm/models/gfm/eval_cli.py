"""``rrm gfm eval``: GFM-RA against WMMSE-Best, one quick table or the paper's figure suite.

Without ``--suite``: one table on a catalog test split (``--catalog``).
With ``--suite``: the experiments of :mod:`rrm.models.gfm.experiments`, each
writing a markdown table, a PNG figure and JSON rows into ``--out``:

=============  ==============================================================
suite          what
=============  ==============================================================
per-k          Fig. 4: normalised sum/PF/QoS utility per K on ``--entries``
missing-csi    Fig. 5: 0-50 % of cross links unreported
few-shot       Figs. 6-8: N-shot curves, pre-trained vs from scratch (trains)
scaling        Fig. 9: backbone sizes ``--sizes`` (pre-trains and trains)
masking        Figs. 10-11: masking ratios and generative-only (pre-trains)
=============  ==============================================================

Defaults are small enough for a CPU; the paper's sizes (5000 test
snapshots, 120k pre-training snapshots, 100 fine-tuning epochs) are reachable
with the flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from rrm.core.errors import InvalidInput
from rrm.core.optional import require
from rrm.models.gfm import experiments as ex
from rrm.models.gfm import report
from rrm.models.gfm.backbone import PRESETS, BackboneConfig, GFMBackbone
from rrm.models.gfm.data import parse_entries
from rrm.models.gfm.device import DEVICES, resolve_device
from rrm.models.gfm.evaluate import evaluate
from rrm.models.gfm.head import PROMPTS
from rrm.models.gfm.pcgnn import PCGNN, PCGNNConfig
from rrm.models.gfm.policy import CHECKPOINTS, GFMPolicy
from rrm.models.gfm.pretrain import PretrainConfig
from rrm.models.gfm.store import load_backbone, load_power_model
from rrm.models.gfm.train import FinetuneConfig
from rrm.models.policy import Policy, make_policy

SUITES = ("per-k", "missing-csi", "few-shot", "scaling", "masking")


def add_parser(commands: Any) -> None:
    """Register ``eval`` (``rrm gfm eval``)."""
    e = commands.add_parser("eval", help="GFM-RA vs WMMSE-Best: a table, or the figure suite")
    e.add_argument("--catalog", default="D18", help="entry of the quick table")
    e.add_argument("--objective", default="sum", choices=list(PROMPTS))
    e.add_argument("--n", type=int, default=200, help="test snapshots (paper: 5000)")
    e.add_argument("--checkpoint", help="GFM checkpoint (default: the shipped ones)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--refine", type=int, default=10,
                   help="WMMSE iterations of the gfm-wmmse row (0: leave it out of the suite)")
    s = e.add_argument_group("figure suite")
    s.add_argument("--suite", help=f"comma list of {', '.join(SUITES)}, or 'all'")
    s.add_argument("--out", default="eval-gfm", help="directory for .md/.png/.json")
    s.add_argument("--reference-cache", type=Path, metavar="DIR",
                   help="keep WMMSE-Best reference figures in DIR and reuse them (the "
                        "multi-start solve takes minutes per entry at K = 80)")
    s.add_argument("--entries", default="D16-D20")
    s.add_argument("--objectives", default="sum,pf,qos")
    s.add_argument("--pcgnn", help="a fine-tuned PCGNN checkpoint to compare with")
    s.add_argument("--scratch", help="a GFM-RA checkpoint fine-tuned from scratch (no "
                   "pre-training) to compare with")
    s.add_argument("--losses", default="0,0.1,0.2,0.3,0.4,0.5", help="missing-CSI shares")
    s.add_argument("--shots", default="64,256,1024,2048", help="few-shot set sizes")
    s.add_argument("--backbone", help="pre-trained backbone (default: the shipped one)")
    s.add_argument("--utility-init", metavar="DIR",
                   help="init 'utility': this utility pre-trained model, head included "
                        "(rrm gfm pretrain --utility)")
    s.add_argument("--warmup-epochs", type=int, default=FinetuneConfig.warmup_epochs)
    s.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    s.add_argument("--min-steps-per-epoch", type=int,
                   default=FinetuneConfig.min_steps_per_epoch,
                   help="few-shot: smaller batches for small N (64 shots -> 8 batches of 8)")
    s.add_argument("--inits", default="pre-trained,scratch",
                   help="few-shot: comma list of pre-trained, scratch, pcgnn, utility")
    s.add_argument("--sizes", default="3x64x4,4x128x8,6x256x8",
                   help="scaling: LAYERSxDIMxHEADS list")
    s.add_argument("--mask-ratios", default="0.1,0.3,0.5,0.7")
    s.add_argument("--pretrain-epochs", type=int, default=10)
    s.add_argument("--n-per-entry", type=int, default=256, help="pre-training snapshots/entry")
    s.add_argument("--variant-shots", type=int, default=256,
                   help="fine-tuning set of the scaling/masking variants")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--device", default="cpu", choices=DEVICES,
                   help="where the suites fine-tune (few-shot, scaling, masking); auto: CUDA "
                        "when available (bf16 autocast); decisions are scored on the CPU")
    e.set_defaults(run=run_eval)


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"{what} must be a comma list of numbers, got {text!r}") from None


def _sizes(text: str) -> dict[str, BackboneConfig]:
    out = {}
    for item in text.split(","):
        try:
            layers, dim, heads = (int(v) for v in item.strip().lower().split("x"))
            out[item.strip()] = BackboneConfig(layers=layers, dim=dim, heads=heads)
        except ValueError as err:
            raise InvalidInput(f"--sizes wants LAYERSxDIMxHEADS items, got {item!r} "
                               f"({err})") from None
    return out


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_eval(args: argparse.Namespace) -> int:
    """The quick table, or the figure suite when ``--suite`` is given."""
    if args.n < 1:
        raise InvalidInput("--n must be at least 1")
    if args.refine < 0:
        raise InvalidInput("--refine must be >= 0 WMMSE iterations")
    if not args.suite:
        return _quick_table(args)
    suites = list(SUITES) if args.suite == "all" else [s.strip() for s in args.suite.split(",")]
    for name in suites:
        if name not in SUITES:
            raise InvalidInput(f"unknown suite {name!r}; choose from {', '.join(SUITES)} or all")
    require("matplotlib")  # the suite's figures; checked before minutes of evaluation
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    for name in suites:
        _log(f"== {name} ==")
        text = _RUNNERS[name](args, out)
        _log(f"wrote {out}/ ({name})\n{text}")
    return 0


def _quick_table(args: argparse.Namespace) -> int:
    state = ex.test_state(args.catalog, args.n)
    policies: dict[str, Policy] = {"gfm": GFMPolicy(args.checkpoint)}
    if args.refine:
        policies["gfm-wmmse"] = GFMPolicy(args.checkpoint, refine_iterations=args.refine)
    policies |= {"wmmse": make_policy("wmmse"), "full-reuse": make_policy("full-reuse"),
                 "wmmse-best": make_policy("wmmse-best")}
    rows = evaluate(policies, state, args.objective)
    print(f"{args.catalog} test[:{args.n}], objective {args.objective}; vs best = "
          + ("exp((U - U_best) / K), the ratio of geometric-mean rates" if args.objective == "pf"
             else "1 + (U - U_best) / |U_best|")
          + " (sign-safe; 1: as good as WMMSE-Best)")
    print(f"{'policy':<12} {'utility':>9} {'vs best':>12} {'ms/snap batched':>16} "
          f"{'ms single':>10}")
    for r in rows:
        print(f"{r.policy:<12} {r.utility:>9.3f} {r.ratio:>12.4f} {r.ms_per_snapshot:>16.3f} "
              f"{r.ms_single:>10.3f}")
    if args.json:
        print(json.dumps([r.__dict__ for r in rows]))
    return 0


def _compared(args: argparse.Namespace) -> dict[str, Policy]:
    policies: dict[str, Policy] = {"gfm": GFMPolicy(args.checkpoint, threads=args.threads)}
    if args.refine:
        policies["gfm-wmmse"] = GFMPolicy(args.checkpoint, args.threads, args.refine)
    if args.pcgnn:
        policies["pcgnn"] = GFMPolicy(args.pcgnn, threads=args.threads, name="pcgnn")
    if args.scratch:
        policies["scratch"] = GFMPolicy(args.scratch, threads=args.threads)
    policies["wmmse"] = make_policy("wmmse")
    policies["full-reuse"] = make_policy("full-reuse")
    return policies


def _objectives(args: argparse.Namespace) -> list[str]:
    names = [o.strip() for o in args.objectives.split(",") if o.strip()]
    for o in names:
        if o not in PROMPTS:
            raise InvalidInput(f"unknown objective {o!r}; choose from {', '.join(PROMPTS)}")
    return names


def _intro(args: argparse.Namespace, what: str) -> str:
    return (f"{what} Test split, first {args.n} snapshots per entry; ratio = mean utility "
            "relative to WMMSE-Best's: 1 + (U - U_ref) / |U_ref| for sum and qos (= U / U_ref "
            "when U_ref > 0), exp((U - U_ref) / K) for pf (ratio of geometric-mean rates); "
            "violation = share of links below r_min = 0.3 bit/s/Hz.\n\nCommand: `rrm "
            + " ".join(args.argv) + "`")


def _per_k(args: argparse.Namespace, out: Path) -> str:
    rows = ex.per_k(_compared(args), parse_entries(args.entries), _objectives(args), args.n,
                    _log, args.reference_cache)
    return report.write_per_k(rows, out, _intro(args, "Shipped checkpoints."))


def _missing_csi(args: argparse.Namespace, out: Path) -> str:
    losses = _floats(args.losses, "--losses")
    if any(not 0 <= x <= 1 for x in losses):
        raise InvalidInput("--losses must lie in [0, 1]")
    policies = {k: v for k, v in _compared(args).items() if k != "full-reuse"}
    rows = []
    for entry in parse_entries(args.entries):
        rows += ex.missing_csi(policies, entry, _objectives(args)[0], losses, args.n, log=_log,
                               cache=args.reference_cache)
    return report.write_missing_csi(rows, out, _intro(
        args, "Unreported cross links: GFM-RA sees the mask token, WMMSE zero-filled gains."))


def _few_shot_cfg(args: argparse.Namespace, objective: str,
                  entry: str | None = None) -> ex.FewShotConfig:
    entry = entry or parse_entries(args.entries)[0]
    if args.min_steps_per_epoch < 1:
        raise InvalidInput("--min-steps-per-epoch must be at least 1")
    ft = replace(FinetuneConfig(), warmup_epochs=args.warmup_epochs, epochs=args.epochs,
                 min_steps_per_epoch=args.min_steps_per_epoch)
    return ex.FewShotConfig(entry, objective, ft, args.n, reference_cache=args.reference_cache,
                            refine_iterations=args.refine, device=str(resolve_device(args.device)))


INITS = ("pre-trained", "scratch", "pcgnn", "utility")


def _few_shot_makers(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Backbone factories per ``--inits``; scratch has the pre-trained one's architecture."""
    pretrained_cfg = load_backbone(path)[0].cfg  # fail fast on a bad checkpoint
    available = {"pre-trained": lambda: load_backbone(path)[0],
                 "scratch": lambda: GFMBackbone(pretrained_cfg),
                 "pcgnn": lambda: PCGNN(PCGNNConfig())}
    if args.utility_init:  # a whole utility pre-trained model: backbone and head
        load_power_model(args.utility_init)  # fail fast
        available["utility"] = lambda: load_power_model(args.utility_init)[0]
    names = [n.strip() for n in args.inits.split(",") if n.strip()]
    if "utility" in names and not args.utility_init:
        raise InvalidInput("--inits utility needs --utility-init DIR (a utility pre-trained "
                           "checkpoint)")
    for name in names:
        if name not in available:
            raise InvalidInput(f"unknown init {name!r}; choose from {', '.join(INITS)}")
    return {n: available[n] for n in names}


def _few_shot(args: argparse.Namespace, out: Path) -> str:
    path = Path(args.backbone or CHECKPOINTS / "gfm-small-pretrained")
    makers = _few_shot_makers(args, path)
    shots = [int(x) for x in _floats(args.shots, "--shots")]
    if any(n < 0 for n in shots):
        raise InvalidInput("--shots must be >= 0 (0: the model as it is, for --inits utility)")
    if 0 in shots and set(makers) != {"utility"}:
        raise InvalidInput("--shots 0 scores a model without training: only --inits utility")
    text = ""
    for objective in _objectives(args):
        rows: list[ex.Row] = []
        for entry in parse_entries(args.entries):
            rows += ex.few_shot(makers, shots, _few_shot_cfg(args, objective, entry), _log)
        rows += ex.mean_over_entries(rows)
        text += report.write_few_shot(rows, out, _intro(
            args, f"Backbone {path}; {args.warmup_epochs}+{args.epochs} fine-tuning epochs, "
            f"at least {args.min_steps_per_epoch} minibatches per epoch."))
    return text


def _run_variants(args: argparse.Namespace, configs: dict[str, tuple[BackboneConfig,
                  PretrainConfig]]) -> list[ex.Row]:
    run = ex.PretrainRun(n_per_entry=args.n_per_entry, epochs=args.pretrain_epochs)
    return ex.variants(configs, run, args.variant_shots,
                       _few_shot_cfg(args, _objectives(args)[0]), _log)


def _scaling(args: argparse.Namespace, out: Path) -> str:
    configs = {name: (cfg, PretrainConfig()) for name, cfg in _sizes(args.sizes).items()}
    rows = _run_variants(args, configs)
    return report.write_variants(rows, out, "fig9_scaling", "Model-size scaling (Fig. 9)",
                                 "params", _intro(args, "Each size pre-trained on D1-D15."))


def _masking(args: argparse.Namespace, out: Path) -> str:
    small = PRESETS["small"]
    configs = {f"rho={r:g}": (small, PretrainConfig(mask_ratio=r))
               for r in _floats(args.mask_ratios, "--mask-ratios")}
    configs["generative-only"] = (small, PretrainConfig(cl_weight=0.0))
    rows = _run_variants(args, configs)
    return report.write_variants(rows, out, "fig10_masking",
                                 "Masking ratio and generative-only ablation (Figs. 10-11)",
                                 "mask_ratio", _intro(args, "Small backbone pre-trained on "
                                                      "D1-D15; cl_weight 0 = generative-only."))


_RUNNERS = {"per-k": _per_k, "missing-csi": _missing_csi, "few-shot": _few_shot,
            "scaling": _scaling, "masking": _masking}
