"""Primal-dual training of EGAT with REINFORCE on the association (EGAT Algorithm 2).

Each step draws fresh instances (``generate_cellfree``), runs EGAT once and
samples ``samples`` association matrices ``X ~ Bernoulli(Pi)`` (eq. 31).
For each sample the beamformers are ``postprocess(v_raw, X)`` (eqs. 36-37)
and the partial Lagrangian (eq. 29) is::

    L2 = sum_k w_k r_k - sum_b mu_b [load_b / cap_b - (1 - margin)]_+

with ``load_b = sum_k x_bk r_k`` and rates in bit/s/Hz. Three changes to
eq. (29), all to meet the constraint per instance rather than on average:
the constraint is written relative to ``cap_b`` (the same constraint; ``mu``
is per unit of relative overload, so one set of multipliers serves every
capacity drawn); it is tightened by ``margin``; and its positive part is
penalised (with the plain difference, under-loaded instances pay for
overloaded ones: in a first try the mean constraint held while 78 % of the
sampled instances overloaded an AP). The loss (eq. 33)
is ``-mean[L2 + (Q - baseline) log P(X | Pi)]`` with ``Q = L2`` detached
(eq. 32) and the leave-one-out mean of the other samples' ``Q`` as baseline
(variance reduction; it does not bias eq. 34). ``L2`` carries the gradient
of the beamformers (eq. 38), the second term that of ``Pi`` (eq. 34).
The per-AP multipliers take a projected dual ascent step on the batch's
mean positive overload of the deterministic policy ``x = [pi > 1/2]``
(Algorithm 2 line 7; the paper prints the step with a minus sign, which
would descend the dual).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rrm.core import cellfree_physics as cfp
from rrm.core.cellfree_physics_torch import rates
from rrm.models.cellfree.batch import CellFreeBatch
from rrm.models.cellfree.dnn import DenseNet, DnnConfig
from rrm.models.cellfree.egat import Egat, EgatConfig, bernoulli_log_prob, features, postprocess
from rrm.models.cellfree.rate_cap import cap_rates
from rrm.models.cellfree.resume import (
    LoopState,
    restore_train_state,
    run_settings,
    save_train_state,
)
from rrm.sim.scenarios.cellfree import CellFreeConfig, generate_cellfree, to_state


@dataclass(frozen=True)
class TrainConfig:
    """Algorithm 2's settings (sec. V-A: Adam, lr 1e-3; the rest sized for a CPU)."""

    steps: int = 2000  # paper: 300 epochs x 100 mini-batches
    batch_size: int = 64  # paper: 256
    samples: int = 4  # association samples per instance (REINFORCE average)
    lr: float = 1e-3  # sec. V-A
    dual_lr: float = 1.0  # step of mu per unit of mean relative overload (ours)
    margin: float = 0.1  # constraint tightened to (1 - margin) C_b (ours)
    overload_tol: float = 0.002  # mean positive overload the dual step aims at (ours)
    capacities_mbps: tuple[float, ...] = (40.0, 50.0, 60.0, 70.0, 80.0, 90.0)  # Fig. 6 range
    num_aps: int = 8  # Table I
    num_ues: int = 4  # Table I
    seed: int = 0
    time_limit_s: float = 0.0  # stop early after this wall time (0: none)
    validate_every: int = 250  # steps between validations (0: keep the last weights)
    validation_n: int = 64  # validation instances per capacity
    # (B, K) drawn per step for a size-general model (item 2 of issue #16); empty:
    # (num_aps, num_ues) only. With several sizes one multiplier serves every AP.
    sizes: tuple[tuple[int, int], ...] = ()
    epoch_steps: int = 100  # steps between resume states (paper: 100 mini-batches an epoch)
    # validate the deployed policy (rate cap of rate_cap.py on) rather than the raw network
    val_rate_cap: bool = False
    # halve-style plateau decay: lr *= lr_decay after lr_patience validations without a new
    # best (0: constant lr, as sec. V-A); REINFORCE's noise at a constant lr stalls the metric
    lr_patience: int = 0
    lr_decay: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["capacities_mbps"] = list(self.capacities_mbps)
        d["sizes"] = [list(s) for s in self.sizes]
        return d

    @property
    def size_mix(self) -> tuple[tuple[int, int], ...]:
        """The (B, K) sizes a step draws from."""
        return self.sizes or ((self.num_aps, self.num_ues),)


@dataclass
class TrainLog:
    """Per-logged-step history of the deployed policy: mean WSR, violation rate; loss, mu."""

    step: list[int] = field(default_factory=list)
    wsr: list[float] = field(default_factory=list)
    violation: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    mu: list[list[float]] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    best_step: int = 0
    wall_s: float = 0.0
    steps_done: int = 0
    lr_decay_steps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TorchBatch:
    """Instances as torch tensors: ``h [n,B,K,M]`` complex64, budgets float32."""

    h: Tensor
    noise_w: Tensor  # [n, K]
    pmax_w: Tensor  # [n, B]
    cap: Tensor  # [n, B] bit/s/Hz
    weights: Tensor  # [n, K]

    @classmethod
    def draw(cls, cfg: CellFreeConfig, n: int, rng: np.random.Generator) -> TorchBatch:
        """``n`` fresh snapshots of the scenario."""
        s = to_state(generate_cellfree(cfg, n, rng))  # budgets per AP and noise per UE
        return cls.of_arrays(s.h, s.noise_per_ue, s.pmax_per_ap,
                             s.fronthaul_per_ap / s.bandwidth_hz, np.ones((n, cfg.num_ues)))

    @classmethod
    def of_arrays(cls, h: np.ndarray, noise_w: np.ndarray, pmax_w: np.ndarray, cap: np.ndarray,
                  weights: np.ndarray) -> TorchBatch:
        """From numpy arrays (shapes as the attributes)."""
        return cls(torch.as_tensor(h, dtype=torch.complex64),
                   *(torch.as_tensor(np.array(a), dtype=torch.float32)
                     for a in (noise_w, pmax_w, cap, weights)))

    def to(self, device: torch.device | str) -> TorchBatch:
        """The same instances on ``device``."""
        return TorchBatch(*(t.to(device) for t in (self.h, self.noise_w, self.pmax_w, self.cap,
                                                    self.weights)))

    def model_input(self) -> tuple[Tensor, Tensor, Tensor]:
        """EGAT's features."""
        return features(self.h, self.noise_w, self.pmax_w, self.cap, self.weights)

    def normalised_h(self) -> Tensor:
        """``g = h / xi_k`` (noise 1)."""
        return self.h / torch.sqrt(self.noise_w)[:, None, :, None]


@dataclass(frozen=True)
class ValidationSet:
    """Fixed instances at every training capacity (seed ``cfg.seed + 1``).

    :meth:`metric` is the mean over instances of the deployed policy's
    weighted sum rate where every constraint holds and 0 where one fails, so
    it rewards rate and feasibility without scaling together.
    """

    batches: tuple[TorchBatch, ...]

    rate_cap: bool = False

    @classmethod
    def draw(cls, base: CellFreeConfig, cfg: TrainConfig,
             device: torch.device | str = "cpu") -> ValidationSet:
        """``validation_n`` instances per capacity, and per other size of the mix (60 Mbit/s)."""
        rng = np.random.default_rng(cfg.seed + 1)
        batches = [TorchBatch.draw(replace(base, fronthaul_mbps=c), cfg.validation_n, rng)
                   for c in cfg.capacities_mbps]
        batches += [TorchBatch.draw(replace(base, num_aps=b, num_ues=k), cfg.validation_n, rng)
                    for b, k in cfg.size_mix if (b, k) != (base.num_aps, base.num_ues)]
        return cls(tuple(b.to(device) for b in batches), cfg.val_rate_cap)

    def metric(self, model: Egat | DenseNet) -> float:
        """Mean feasible weighted sum rate, bit/s/Hz."""
        model.eval()
        scores = []
        for b in self.batches:
            v, x = infer(model, b)
            h = b.h.cpu().numpy().astype(np.complex128)
            noise = b.noise_w.cpu().numpy().astype(np.float64)
            cap = b.cap.cpu().numpy().astype(np.float64)
            if self.rate_cap:  # score the deployed policy: rates capped to the fronthaul
                v, _ = cap_rates(CellFreeBatch(h, noise, b.pmax_w.cpu().numpy().astype(
                    np.float64), cap, b.weights.cpu().numpy().astype(np.float64), 1.0, False),
                    v, x)
            r = cfp.rates(h, v, x, noise)
            load = np.einsum("nbk,nk->nb", x, r)
            ok = np.all(load <= cap * (1 + 1e-6), axis=-1)
            scores.append(np.where(ok, (b.weights.cpu().numpy() * r).sum(-1), 0.0))
        return float(np.mean(np.concatenate(scores)))


def lagrangian_terms(batch: TorchBatch, v_raw: Tensor, x: Tensor, mu: Tensor, margin: float,
                     share: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(L2 [S,n], wsr [S,n], overload [S,n,B])`` for sampled ``x [S,n,B,K]`` (eq. 29).

    ``overload = load / cap - (1 - margin)``: positive where the tightened constraint fails.
    """
    v = postprocess(v_raw, x, batch.pmax_w, share)
    r = rates(batch.normalised_h(), v, x, 1.0)  # (S, n, K) bit/s/Hz
    wsr = (batch.weights * r).sum(-1)
    load = torch.einsum("snbk,snk->snb", x, r)
    overload = load / batch.cap - (1.0 - margin)
    return wsr - (mu * overload.clamp_min(0.0)).sum(-1), wsr, overload


def train_step(model: Egat | DenseNet, opt: torch.optim.Optimizer, batch: TorchBatch,
               mu: Tensor, cfg: TrainConfig) -> tuple[float, float, float, Tensor]:
    """One primal-dual step; returns ``(loss, wsr, violation rate, new mu)``.

    ``wsr`` and the violation rate (share of instances with an AP above its
    true capacity) are those of the deterministic policy ``x = [pi > 1/2]``
    that is deployed; the dual step follows the sampled associations'
    positive overload. (Measured alternatives, 3,000 steps: the dual step on
    the deployed policy's overload, with one set of multipliers or one per
    capacity, left 44-60 % of the instances at 40 Mbit/s infeasible.)
    """
    v_raw, pi, share = model(*batch.model_input())
    x = torch.bernoulli(pi.detach().expand(cfg.samples, *pi.shape))  # eq. (31)
    l2, _, overload = lagrangian_terms(batch, v_raw, x, mu, cfg.margin, share)
    q = l2.detach()  # eq. (32)
    s = cfg.samples
    baseline = (q.sum(0, keepdim=True) - q) / max(s - 1, 1) if s > 1 else torch.zeros_like(q)
    loss = -(l2 + (q - baseline) * bernoulli_log_prob(x, pi)).mean()  # eq. (33)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        excess = overload.detach().clamp_min(0.0).mean((0, 1)) - cfg.overload_tol  # (B,)
        if mu.numel() != excess.numel():  # one multiplier for a mix of sizes
            excess = excess.mean(-1, keepdim=True)
        mu = (mu + cfg.dual_lr * excess).clamp_min(0.0)
        x_det = (pi > 0.5).float()[None]
        _, wsr, det_over = lagrangian_terms(batch, v_raw.detach(), x_det, mu, cfg.margin,
                                            share.detach())
        violated = (det_over > cfg.margin + 1e-6).any(-1).float().mean()  # true cap exceeded
    return float(loss.detach()), float(wsr.mean()), float(violated), mu


def build_model(arch: str = "egat", *, num_aps: int, num_ues: int, width: int, heads: int,
                layers: int, attention: bool = True, power_control: bool = False,
                dnn_width: int = DnnConfig.width) -> Egat | DenseNet:
    """The model to train: EGAT (any B and K; ``attention=False`` is the ENGNN-style
    ablation), or the fully connected ``"dnn"`` ablation fixed to ``num_aps`` x ``num_ues``."""
    if arch == "dnn":
        return DenseNet(DnnConfig(num_aps=num_aps, num_ues=num_ues, width=dnn_width,
                                  layers=layers))
    return Egat(EgatConfig(width=width, heads=heads, layers=layers, attention=attention,
                           power_control=power_control))


def train_egat(model: Egat | DenseNet, cfg: TrainConfig, scenario: CellFreeConfig | None = None,
               log_every: int = 50, progress: Callable[[int, TrainLog], None] | None = None,
               resume_dir: str | Path | None = None, mu0: Tensor | None = None,
               device: torch.device | str = "cpu") -> tuple[Tensor, TrainLog]:
    """Algorithm 2; returns the final multipliers ``mu`` and the training log.

    Each step draws one capacity of ``capacities_mbps`` (and one size of
    ``cfg.size_mix``) for the whole batch. Every ``validate_every`` steps the
    deployed policy is scored on a fixed validation set (:class:`ValidationSet`)
    and the best weights are kept (early stopping: with this dual scheme the
    multipliers keep growing and after 3,000 steps the deployed policy had
    degraded). With ``resume_dir`` the full state is saved there every
    ``epoch_steps`` steps and when the time limit stops the run, and a run
    found there is continued bit-exactly (:mod:`rrm.models.cellfree.resume`).
    The model returned holds the best validated weights so far. ``mu0``: the
    starting multipliers (a fine-tuned model keeps its own; default zeros).
    ``device``: where the model and every batch live (instances are drawn on
    the CPU by numpy, then moved); a resume is bit-exact on the CPU only (the
    association samples use the device's generator). ``mu`` is returned on the CPU.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    base = scenario or CellFreeConfig(num_aps=cfg.num_aps, num_ues=cfg.num_ues,
                                      num_antennas=model.cfg.antennas)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    settings = run_settings(cfg.as_dict(), model.cfg.as_dict())
    st = restore_train_state(resume_dir, model, opt, rng, settings) if resume_dir else None
    if st is None:
        mu = torch.zeros(1 if cfg.sizes else base.num_aps)
        if mu0 is not None:
            mu = mu0.mean().expand(mu.shape).clone() if mu0.shape != mu.shape else mu0.clone()
        st = LoopState(0, mu, -math.inf, 0, {}, asdict(TrainLog()))
    st.mu = st.mu.to(device)
    hist = TrainLog(**st.history)
    val = ValidationSet.draw(base, cfg, device)
    t0 = time.perf_counter()
    wall0 = hist.wall_s
    model.train()
    while st.step < cfg.steps:
        st.step += 1
        _one_step(model, opt, cfg, base, rng, st, hist, val, log_every, progress, device)
        stop = bool(cfg.time_limit_s) and time.perf_counter() - t0 > cfg.time_limit_s
        hist.wall_s = wall0 + time.perf_counter() - t0
        hist.steps_done = st.step
        if resume_dir and (stop or st.step % cfg.epoch_steps == 0 or st.step == cfg.steps):
            st.history = asdict(hist)
            save_train_state(resume_dir, model, opt, rng, st, settings)
        if stop:
            break
    if st.best_weights:
        model.load_state_dict(st.best_weights)
        hist.best_step = st.best_step
    model.eval()
    return st.mu.cpu(), hist


def _one_step(model: Egat | DenseNet, opt: torch.optim.Optimizer, cfg: TrainConfig,
              base: CellFreeConfig, rng: np.random.Generator, st: LoopState, hist: TrainLog,
              val: ValidationSet, log_every: int,
              progress: Callable[[int, TrainLog], None] | None,
              device: torch.device | str = "cpu") -> None:
    """Draw a batch, take one primal-dual step, validate and log when due."""
    step = st.step
    cap = float(rng.choice(cfg.capacities_mbps))
    scen = replace(base, fronthaul_mbps=cap)
    if cfg.sizes:
        b, k = cfg.sizes[int(rng.integers(len(cfg.sizes)))]
        scen = replace(scen, num_aps=b, num_ues=k)
    batch = TorchBatch.draw(scen, cfg.batch_size, rng).to(device)
    loss, wsr, viol, st.mu = train_step(model, opt, batch, st.mu, cfg)
    if cfg.validate_every and (step % cfg.validate_every == 0 or step == cfg.steps):
        metric = val.metric(model)
        hist.val_step.append(step)
        hist.val_metric.append(metric)
        if metric > st.best_metric:
            st.best_metric, st.best_step = metric, step
            st.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        _plateau_decay(opt, cfg, st, hist)
        model.train()
    if step % log_every == 0 or step == cfg.steps:
        hist.step.append(step)
        hist.wsr.append(wsr)
        hist.violation.append(viol)
        hist.loss.append(loss)
        hist.mu.append([float(m) for m in st.mu])
        if progress is not None:
            progress(step, hist)


def _plateau_decay(opt: torch.optim.Optimizer, cfg: TrainConfig, st: LoopState,
                   hist: TrainLog) -> None:
    """Multiply the lr by ``lr_decay`` after ``lr_patience`` validations without a new best.

    Stateless beyond the log (the best step and the decay steps), so a resume continues it.
    """
    if not cfg.lr_patience or not cfg.validate_every:
        return
    since = max(st.best_step, hist.lr_decay_steps[-1] if hist.lr_decay_steps else 0)
    if st.step - since >= cfg.lr_patience * cfg.validate_every:
        for group in opt.param_groups:
            group["lr"] *= cfg.lr_decay
        hist.lr_decay_steps.append(st.step)


@torch.no_grad()
def infer(model: Egat | DenseNet, batch: TorchBatch) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic policy: ``x = [pi > 1/2]``, ``v = postprocess(v_raw, x)``.

    Returns ``v [n,B,K,M]`` complex128 in sqrt(W) and ``x [n,B,K]`` int8 (on the CPU).
    """
    v_raw, pi, share = model(*batch.model_input())
    x = (pi > 0.5).float()
    v = postprocess(v_raw, x, batch.pmax_w, share)
    return v.cpu().numpy().astype(np.complex128), x.cpu().numpy().astype(np.int8)
