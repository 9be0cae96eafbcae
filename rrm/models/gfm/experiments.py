"""The GFM-RA evaluation protocol (sec. IV, Figs. 4-11) as functions returning table rows.

Every experiment returns a list of flat dict rows (JSON-ready); plotting and
markdown live in :mod:`rrm.models.gfm.report`. The metric throughout is the
paper's normalised utility: mean utility of a policy over the test snapshots
divided by WMMSE-Best's on the same snapshots (with full CSI).

=================  ===========================================================
experiment         paper
=================  ===========================================================
``per_k``          Fig. 4: normalised sum / PF / QoS utility per K (D16-D20)
``missing_csi``    Fig. 5: a share of cross links unreported (mask token for
                   GFM-RA, zero-filled gains for WMMSE)
``few_shot``       Figs. 6-8: N-shot fine-tuning, pre-trained vs from scratch,
                   with the QoS violation rate (share of links below r_min)
``variants``       Figs. 9-11: pre-train a backbone variant (size, masking
                   ratio, generative-only), fine-tune, evaluate
=================  ===========================================================
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.gfm.backbone import BackboneConfig, GFMBackbone
from rrm.models.gfm.data import GraphSet, load_entry
from rrm.models.gfm.evaluate import normalised
from rrm.models.gfm.head import GFMPowerModel, PowerHead
from rrm.models.gfm.policy import GFMPolicy
from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig
from rrm.models.gfm.train import FinetuneConfig, finetune, pretrain
from rrm.models.policy import Policy, make_policy
from rrm.models.wmmse_policy import WmmsePolicy

Row = dict[str, object]
Log = Callable[[str], None]
REFERENCE = "wmmse-best"


def test_state(entry: str, n: int, seed: int = 0) -> InterferenceState:
    """The first ``n`` snapshots of ``entry``'s test split."""
    test = load_entry(entry, "test", n, seed)
    return InterferenceState(test.gains.numpy(), test.noise_w, test.pmax_w)


def _powers(policy: Policy, state: InterferenceState, objective: str) -> np.ndarray:
    alloc = policy.decide(state, get_objective(objective))
    assert isinstance(alloc, PowerAllocation)
    return np.asarray(alloc.power_w, dtype=np.float64)


def utility_and_violation(gains: np.ndarray, power: np.ndarray, noise_w: float,
                          objective: str) -> tuple[float, float]:
    """Mean utility per snapshot and the share of links below r_min (QoS violation rate).

    Args:
        gains: ``[n, K, K]`` true linear gains; power: ``[n, K]`` watts.
    """
    obj = get_objective(objective)
    rates = physics.rates(gains, power, noise_w)
    return float(np.mean(obj.utility(rates))), float(np.mean(rates < obj.r_min))


def reference_utility(state: InterferenceState, objective: str,
                      cache: Path | None = None) -> float:
    """WMMSE-Best's mean utility on ``state`` (full CSI): the denominator of every ratio.

    With ``cache`` (a directory), the figure is kept there in a small JSON file
    named by a digest of the snapshots, the objective and the reference
    policy's version, so later runs on the same test split skip the
    multi-start solve (minutes per entry at K = 80).
    """
    policy = make_policy(REFERENCE)
    path = None
    if cache is not None:
        h = hashlib.blake2b(digest_size=16)
        for part in (state.gains, state.noise_w, state.pmax_w):
            h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        version = policy.version
        h.update(repr((get_objective(objective), REFERENCE, version)).encode())
        path = Path(cache) / f"reference-{h.hexdigest()}.json"
        if path.is_file():
            return float(json.loads(path.read_text())["utility"])
    power = _powers(policy, state, objective)
    utility = utility_and_violation(state.gains, power, float(state.noise_w), objective)[0]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"utility": utility, "objective": objective,
                                    "reference": REFERENCE, "shape": list(state.gains.shape)}))
    return utility


def per_k(policies: dict[str, Policy], entries: Iterable[str], objectives: Iterable[str],
          n: int, log: Log | None = None, cache: Path | None = None) -> list[Row]:
    """Fig. 4: every policy's normalised utility and QoS violation rate per entry (K)."""
    rows: list[Row] = []
    for entry in entries:
        state = test_state(entry, n)
        for objective in objectives:
            ref = reference_utility(state, objective, cache)
            for name, policy in policies.items():
                t0 = time.perf_counter()
                power = _powers(policy, state, objective)
                ms = 1e3 * (time.perf_counter() - t0) / n
                u, viol = utility_and_violation(state.gains, power, float(state.noise_w),
                                                objective)
                ratio = normalised(u, ref, objective, state.num_links)
                rows.append({"entry": entry, "K": state.num_links, "objective": objective,
                             "policy": name, "utility": u, "ratio": ratio,
                             "violation": viol, "ms_per_snapshot": ms})
                if log:
                    log(f"{entry} {objective:<4} {name:<12} ratio {ratio:.4f}")
    return rows


def missing_csi(policies: dict[str, Policy], entry: str, objective: str,
                losses: Iterable[float], n: int, seed: int = 0,
                log: Log | None = None, cache: Path | None = None) -> list[Row]:
    """Fig. 5: decisions on partially reported CSI, utility on the true channel.

    A share ``loss`` of the cross links of every snapshot is unreported
    (:func:`rrm.core.physics.random_csi_mask`); the policy sees zero-filled gains
    plus the mask; the ratio is against WMMSE-Best with full CSI.
    """
    state = test_state(entry, n)
    ref = reference_utility(state, objective, cache)
    rows: list[Row] = []
    for loss in losses:
        rng = np.random.default_rng([seed, int(round(1000 * loss))])
        mask = physics.random_csi_mask(rng, state.gains.shape, loss)
        seen = InterferenceState(physics.apply_csi_mask(state.gains, mask), state.noise_w,
                                 state.pmax_w, csi_mask=mask)
        for name, policy in policies.items():
            power = _powers(policy, seen, objective)
            u, viol = utility_and_violation(state.gains, power, float(state.noise_w), objective)
            ratio = normalised(u, ref, objective, state.num_links)
            rows.append({"entry": entry, "objective": objective, "missing": loss,
                         "policy": name, "utility": u, "ratio": ratio, "violation": viol})
            if log:
                log(f"{entry} missing {loss:.0%} {name:<12} ratio {ratio:.4f}")
    return rows


@dataclass(frozen=True)
class FewShotConfig:
    """How each N-shot model is fine-tuned and tested (sec. IV-A fine-tuning details)."""

    entry: str = "D18"
    objective: str = "sum"
    finetune: FinetuneConfig = FinetuneConfig()
    n_test: int = 200
    seed: int = 0
    reference_cache: Path | None = None
    refine_iterations: int = 0  # > 0: also score the model + this many WMMSE iterations
    device: str = "cpu"  # where the model is fine-tuned (it is scored on the CPU)


def finetune_and_score(backbone: torch.nn.Module, shots: int, cfg: FewShotConfig,
                       test: InterferenceState, ref: float) -> Row:
    """Fine-tune ``backbone`` + a new head on ``shots`` snapshots; score on ``test``.

    A whole :class:`GFMPowerModel` (e.g. utility pre-trained) keeps its own head;
    with ``shots = 0`` it is scored as it is (zero-shot).
    """
    torch.manual_seed(cfg.seed)
    if isinstance(backbone, GFMPowerModel):
        model = backbone
    else:
        model = GFMPowerModel(backbone, PowerHead(backbone.cfg.dim))  # type: ignore[arg-type,union-attr]
    t0 = time.perf_counter()
    if shots > 0:
        train_set = load_entry(cfg.entry, "train", shots, cfg.seed)
        finetune(model, [train_set], replace(cfg.finetune, objective=cfg.objective), cfg.seed,
                 device=torch.device(cfg.device))
    wall = time.perf_counter() - t0
    power = _powers(GFMPolicy.from_model(model, torch.get_num_threads()), test, cfg.objective)
    u, viol = utility_and_violation(test.gains, power, float(test.noise_w), cfg.objective)
    k = test.num_links
    refined = {}
    if cfg.refine_iterations:  # gfm-wmmse's polish, from the powers already decided
        polish = WmmsePolicy(max_iter=cfg.refine_iterations)
        polished = polish.decide_warm(test, get_objective(cfg.objective), power).power_w
        u_refined = utility_and_violation(test.gains, np.asarray(polished),
                                          float(test.noise_w), cfg.objective)[0]
        refined = {"ratio_refined": normalised(u_refined, ref, cfg.objective, k)}
    return {"shots": shots, "utility": u, "ratio": normalised(u, ref, cfg.objective, k),
            **refined,
            "violation": viol, "batch": cfg.finetune.effective_batch_size(shots),
            "train_s": round(wall, 1)}


def few_shot(make_backbones: Mapping[str, Callable[[], torch.nn.Module]], shots: Iterable[int],
             cfg: FewShotConfig, log: Log | None = None) -> list[Row]:
    """Figs. 6-8: N-shot curves, one per initialisation (e.g. pre-trained, scratch)."""
    test = test_state(cfg.entry, cfg.n_test)
    ref = reference_utility(test, cfg.objective, cfg.reference_cache)
    rows: list[Row] = []
    for n_shots in shots:
        for init, make in make_backbones.items():
            row = {"entry": cfg.entry, "objective": cfg.objective, "init": init,
                   **finetune_and_score(make(), n_shots, cfg, test, ref)}
            rows.append(row)
            if log:
                log(f"{n_shots:>5} shots {init:<11} ratio {row['ratio']:.4f} "
                    f"({row['train_s']} s)")
    return rows


def mean_over_entries(rows: Sequence[Row]) -> list[Row]:
    """Rows with ``entry="mean"``: ratio and violation averaged per (init, shots).

    Empty when the rows cover a single entry (the paper reports the mean over
    D16-D20 in Figs. 6-8).
    """
    if len({r["entry"] for r in rows}) < 2:
        return []
    groups: dict[tuple[object, object, object], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["objective"], r["init"], r["shots"]), []).append(r)
    def mean(group: list[Row], key: str) -> float:
        return float(np.mean([float(r[key]) for r in group]))  # type: ignore[arg-type]

    return [{"entry": "mean", "objective": obj, "init": init, "shots": shots,
             "ratio": mean(group, "ratio"), "violation": mean(group, "violation"),
             **({"ratio_refined": mean(group, "ratio_refined")}
                if all("ratio_refined" in r for r in group) else {}),
             "train_s": round(mean(group, "train_s") * len(group), 1)}
            for (obj, init, shots), group in groups.items()]


@dataclass(frozen=True)
class PretrainRun:
    """A pre-training run of the ablations (Figs. 9-11)."""

    entries: tuple[str, ...] = tuple(f"D{i}" for i in range(1, 16))
    n_per_entry: int = 256
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0


def pretrained_backbone(backbone: BackboneConfig, pcfg: PretrainConfig,
                        run: PretrainRun) -> GFMBackbone:
    """Pre-train one backbone variant and return it."""
    sets: list[GraphSet] = [load_entry(e, "train", run.n_per_entry, run.seed)
                            for e in run.entries]
    model = HybridPretrainer(backbone, pcfg)
    pretrain(model, sets, run.epochs, run.batch_size, pcfg.lr, run.seed)
    return model.backbone


def variants(configs: dict[str, tuple[BackboneConfig, PretrainConfig]], run: PretrainRun,
             shots: int, cfg: FewShotConfig, log: Log | None = None) -> list[Row]:
    """Figs. 9-11: pre-train each named variant, fine-tune on ``shots``, score."""
    test = test_state(cfg.entry, cfg.n_test)
    ref = reference_utility(test, cfg.objective, cfg.reference_cache)
    rows: list[Row] = []
    for name, (bcfg, pcfg) in configs.items():
        t0 = time.perf_counter()
        backbone = pretrained_backbone(bcfg, pcfg, run)
        pre_s = time.perf_counter() - t0
        params = sum(p.numel() for p in backbone.parameters())
        row = {"variant": name, "params": params, "mask_ratio": pcfg.mask_ratio,
               "cl_weight": pcfg.cl_weight, "pretrain_s": round(pre_s, 1),
               **finetune_and_score(backbone, shots, cfg, test, ref)}
        rows.append(row)
        if log:
            log(f"{name:<16} {params / 1e6:.2f} M params ratio {row['ratio']:.4f}")
    return rows
