"""The ``gfm`` policy: a fine-tuned GFM-RA checkpoint deciding powers per slot.

``gfm-wmmse`` (our extension, not in the paper) polishes the model's answer
with a few WMMSE iterations warm-started from it, kept only where they raise
the objective: never worse than ``gfm`` under the reported CSI, and a few
iterations cost a fraction of one full WMMSE run (100 iterations). Where a
snapshot's shift score (:mod:`rrm.models.gfm.shift`) is above
``shift_threshold``, the model's answer is not trusted and ``gfm-wmmse`` runs a
full WMMSE from full power instead (docs/gfm.md, "Shift guard").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import structlog
import torch

from rrm.core import physics
from rrm.core.allocator import retain_freed_memory
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, InterferenceState, PowerAllocation, State
from rrm.models.gfm.adapt import (
    ENSEMBLE_DB,
    SnrCeiling,
    best_by_utility,
    binarised,
    direct_inr_db_mean,
)
from rrm.models.gfm.backbone import GFMBackbone
from rrm.models.gfm.features import graph_batch_of_inr
from rrm.models.gfm.frozen import freeze_power_model, run_frozen
from rrm.models.gfm.head import PROMPTS, GFMPowerModel
from rrm.models.gfm.polish import LocalSearch, polish_state
from rrm.models.gfm.shift import ShiftStats, descriptors_of
from rrm.models.gfm.store import load_power_model
from rrm.models.policy import SHIFT_THRESHOLD, Policy
from rrm.models.wmmse_policy import WmmsePolicy

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
PCGNN_CHECKPOINT = "pcgnn-small-switch"
IN_MEMORY = Path("<in-memory>")  # key of a model given as an object, not a checkpoint
# the sum default: the utility pre-trained model fine-tuned on D16-D20 x 2,048 shots
# (0.972-0.974 of WMMSE-Best there vs 0.960-0.966 for gfm-small-sum, and above it on every
# held-out family; docs/gfm.md); the other objectives: the switchable head
DEFAULT_SUM_CHECKPOINT = "gfm-small-world-sum"
DEFAULT_CHECKPOINTS = {"sum": DEFAULT_SUM_CHECKPOINT, "pf": "gfm-small-switch",
                       "qos": "gfm-small-switch"}
log = structlog.get_logger("rrm.models.gfm.policy")


class GFMPolicy(Policy):
    """Decides powers with a fine-tuned GFM-RA model.

    Several nodes' snapshots of one slot are decided in one batched forward
    pass (:meth:`decide_batch`, ``batches_slots``).

    Args:
        checkpoint: a checkpoint directory; default: the shipped ``small``
            model for the objective asked for (``rrm/models/checkpoints``).
        threads: torch intra-op threads (1: slot-loop friendly).
        refine_iterations: WMMSE iterations warm-started from the model's
            powers (0: the model alone, the paper's GFM-RA).
        name: the registered name (``gfm``, ``gfm-wmmse``, ``pcgnn``).
        model: an in-memory model instead of a checkpoint (evaluation during
            training; ``version`` is then ``in-memory``).
        frozen: run GFM-RA models as a frozen TorchScript graph
            (:mod:`rrm.models.gfm.frozen`; the same powers as eager within
            1e-5 of Pmax, 1.3x-10x faster on the shared 2-core CPU,
            bench/results/gfm_decide_388249f.md); False: eager PyTorch. In-memory
            models (training) and PCGNN always run eager.
        shift_threshold: shift score above which ``gfm-wmmse`` replaces the
            model's answer by a full WMMSE run (``refine_iterations > 0`` only).
            The score is that of the snapshot as reported, before any adaptation.
        snr_ceiling: 6 dB above the largest mean direct INR of the checkpoint's training
            snapshots (``shift_stats``), also decide the snapshot with every gain
            attenuated back into that range and keep the best answer
            (:class:`rrm.models.gfm.adapt.SnrCeiling`; the identity inside the range;
            no effect without statistics).
        ensemble: on every snapshot, also try common scalings inside the range,
            binarised answers and full reuse, and keep the best
            (:mod:`rrm.models.gfm.adapt`; off: it changes decisions inside the range and
            costs one forward pass per scaling).
        polish: greedy single-link local search on the model's (adapted) answer by the
            objective's utility under the reported CSI, before any WMMSE refinement
            (:mod:`rrm.models.gfm.polish`; never lowers that utility; off: the model's answer).
    """

    batches_slots = True

    def __init__(self, checkpoint: str | Path | None = None, threads: int = 1,
                 refine_iterations: int = 0, *, name: str = "gfm",
                 model: GFMPowerModel | None = None, frozen: bool = True,
                 shift_threshold: float = SHIFT_THRESHOLD, snr_ceiling: bool = True,
                 ensemble: bool = False, polish: bool = False) -> None:
        super().__init__(name)
        torch.set_num_threads(threads)
        retain_freed_memory()  # K^2 intermediates: no page faults per slot (rrm.core.allocator)
        self._refiner = _refiner(refine_iterations)
        self._full_wmmse = WmmsePolicy() if self._refiner is not None else None
        self.shift_threshold = shift_threshold
        self.snr_ceiling, self.ensemble = snr_ceiling, ensemble
        self._polish = LocalSearch() if polish else None
        self._ceilings: dict[Path, SnrCeiling | None] = {IN_MEMORY: None}
        self._models: dict[Path, GFMPowerModel] = {}
        self._frozen = frozen and model is None
        self._graphs: dict[Path, torch.jit.ScriptModule | None] = {}
        self._stats: dict[Path, ShiftStats | None] = {IN_MEMORY: None}
        self._paths: dict[str, Path] = {}  # checkpoint path per objective (built once)
        self.version = ""
        if model is not None:
            self._explicit: Path | None = IN_MEMORY
            self._models[IN_MEMORY] = model.eval()
            self.version = "in-memory"
        else:
            self._explicit = Path(checkpoint) if checkpoint else None
            self._model_for("sum")  # fail fast on a missing or bad checkpoint

    @classmethod
    def from_model(cls, model: GFMPowerModel, threads: int = 1) -> GFMPolicy:
        """A ``gfm`` policy around an in-memory model (evaluation during training)."""
        return cls(threads=threads, model=model)

    def _path_for(self, objective: str) -> Path:
        path = self._paths.get(objective)
        if path is None:  # a Path join per call cost ~10 us, several times per decision
            path = self._explicit or CHECKPOINTS / DEFAULT_CHECKPOINTS.get(
                objective, DEFAULT_SUM_CHECKPOINT)
            self._paths[objective] = path
        return path

    def _model_for(self, objective: str) -> tuple[GFMPowerModel, str]:
        path = self._path_for(objective)
        if path not in self._models:
            loaded, meta = load_power_model(path)
            self._models[path] = loaded.eval()
            self.version = str(meta.get("sha256", ""))[:12]
            self._graphs[path] = self._freeze(loaded)  # at load, not in a slot
            stats = meta.get("shift_stats")
            parsed = None if stats is None else ShiftStats.from_json(stats)
            self._stats[path] = parsed
            self._ceilings[path] = None if parsed is None else SnrCeiling.from_stats(parsed)
        model = self._models[path]
        switchable = model.head.prompt is not None
        return model, objective if switchable and objective in PROMPTS else "sum"

    def _freeze(self, model: GFMPowerModel) -> torch.jit.ScriptModule | None:
        """``model``'s frozen graph (None: run eager)."""
        if not self._frozen or not isinstance(model.backbone, GFMBackbone):
            return None
        try:
            return freeze_power_model(model)
        except Exception as err:  # noqa: BLE001 - eager computes the same powers
            log.warning("freeze_failed", error=f"{type(err).__name__}: {err}"[:200])
            return None

    def decide_batch(self, states: Sequence[State],
                     objectives: Sequence[Objective]) -> list[Allocation]:
        """Single-snapshot states of equal K and objective in one forward pass each.

        Several E2 nodes in one slot: one pass instead of one per node; any
        other state is decided on its own.
        """
        return self._decide_groups(states, objectives, scored=False)[0]

    def decide_batch_scored(self, states: Sequence[State], objectives: Sequence[Objective]
                            ) -> tuple[list[Allocation], list[float | None]]:
        """:meth:`decide_batch` and each state's shift score (:meth:`shift_score`, the
        same numbers; None: not scored here). The scores of the single snapshots decided
        in a batched pass come from the INRs their features are built from (one product
        and one division per pass, not two): what the xApp's slot loop asks for."""
        return self._decide_groups(states, objectives, scored=True)

    def _decide_groups(self, states: Sequence[State], objectives: Sequence[Objective],
                       scored: bool) -> tuple[list[Allocation], list[float | None]]:
        out: list[Allocation | None] = [None] * len(states)
        scores: list[float | None] = [None] * len(states)
        groups: dict[tuple[int, Objective], list[tuple[int, InterferenceState]]] = {}
        for i, (state, objective) in enumerate(zip(states, objectives, strict=True)):
            if isinstance(state, InterferenceState) and np.ndim(state.gains) == 2:
                groups.setdefault((state.num_links, objective), []).append((i, state))
            else:
                out[i] = self.decide(state, objective)
        for (k, objective), members in groups.items():
            power, score = self._powers(_stack([s for _, s in members], k), objective,
                                        scored)  # (n, K), (n,) or None
            for j, ((i, _), p) in enumerate(zip(members, power, strict=True)):
                out[i] = PowerAllocation(p)
                scores[i] = None if score is None else float(score[j])
        return [a for a in out if a is not None], scores

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Powers ``[..., K]`` in watts within ``[0, pmax]``."""
        if not isinstance(state, InterferenceState):
            raise TypeError("gfm decides powers for interference networks")
        return PowerAllocation(self._powers(state, objective)[0])

    def shift_score(self, state: State) -> np.ndarray | None:
        """Shift score of ``state`` against the training statistics of the checkpoint
        (the ``sum`` one when none was given; the shipped heads share their training
        data): ``[]`` for one snapshot, ``[n]`` for a batch; None without statistics."""
        if not isinstance(state, InterferenceState):
            return None
        self._model_for("sum")
        stats = self._stats[self._path_for("sum")]
        if stats is None:
            return None
        gains = np.asarray(state.gains, dtype=np.float64)
        single = gains.ndim == 2
        b, k = (1 if single else gains.shape[0]), gains.shape[-1]
        mask = None if state.csi_mask is None else np.broadcast_to(
            np.asarray(state.csi_mask, bool), (b, k, k))
        score = stats.score(gains.reshape(b, k, k), state.noise_per_link.reshape(b, k),
                            state.pmax_per_link.reshape(b, k), mask)
        return score[0] if single else score

    def _powers(self, state: InterferenceState, objective: Objective, scored: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Powers ``[..., K]`` W and, when ``scored``, the shift scores ``[...]`` of the
        snapshots as reported (None: not scored)."""
        power, score = self._model_powers(state, objective, scored)
        if self._polish is not None:
            power = polish_state(self._polish, state, objective, power)
        if self._refiner is None or self._full_wmmse is None:
            return power, score
        refined = np.array(self._refiner.decide_warm(state, objective, power).power_w)
        shift = self.shift_score(state) if score is None else score
        shifted = np.zeros(np.shape(refined)[:-1], bool) if shift is None else (
            np.asarray(shift) > self.shift_threshold)
        if not shifted.any():
            return refined, score
        if refined.ndim == 1:  # one shifted snapshot: the model's start is not trusted
            return np.asarray(self._full_wmmse.decide(state, objective).power_w), score
        sub = _select(state, shifted)
        refined[shifted] = np.asarray(self._full_wmmse.decide(sub, objective).power_w)
        return refined, score

    @torch.inference_mode()
    def _model_powers(self, state: InterferenceState, objective: Objective,
                      scored: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The model's powers ``[..., K]`` W, adapted where the input lies above the trained
        SNR range (:mod:`rrm.models.gfm.adapt`), and when ``scored`` the shift scores
        ``[...]`` (:meth:`shift_score`) from the same INRs as the features (None: the
        checkpoint has no statistics, or not ``scored``)."""
        gains = np.asarray(state.gains, dtype=np.float64)
        single = gains.ndim == 2
        g = gains[None] if single else gains  # (B, K, K)
        b, k = g.shape[0], g.shape[-1]
        mask = None if state.csi_mask is None else np.broadcast_to(
            np.asarray(state.csi_mask, bool), g.shape)
        noise = state.noise_per_link.reshape(b, k)
        pmax = state.pmax_per_link.reshape(b, k)
        received = g * pmax[:, None, :]  # (B, K, K): G_kj Pmax_j, W
        inr = received / noise[:, :, None]  # (B, K, K): the features' and the score's INRs
        power = self._forward(g, noise, pmax, mask, objective.name, inr)  # (B, K)
        stats = self._score_stats() if scored else None
        score = None if stats is None else stats.score_descriptors(
            descriptors_of(received, inr, noise, mask))  # (B,)
        attenuations = self._attenuations(g, noise, pmax)  # (B, M) dB or None
        if attenuations is not None:
            power = self._adapted(power, attenuations, (g, noise, pmax, mask), objective)
        if single:
            return power[0], None if score is None else score[0]
        return power, score

    def _score_stats(self) -> ShiftStats | None:
        """The statistics :meth:`shift_score` scores against (None: none stored)."""
        path = self._path_for("sum")
        if path not in self._stats:
            self._model_for("sum")
        return self._stats[path]

    def _forward(self, gains: np.ndarray, noise: np.ndarray, pmax: np.ndarray,
                 mask: np.ndarray | None, objective: str,
                 inr: np.ndarray | None = None) -> np.ndarray:
        """One forward pass: ``gains (B, K, K)``, ``noise``/``pmax (B, K)`` W, ``mask (B, K, K)``
        -> powers ``(B, K)`` W within ``[0, pmax]``. ``inr``: ``(gains Pmax_j) / sigma_k^2``
        ``(B, K, K)`` when the caller formed it already (the features start from it)."""
        model, prompt = self._model_for(objective)
        graph = self._graphs.get(self._path_for(objective))
        if inr is None:
            inr = gains * pmax[:, None, :] / noise[:, :, None]  # (B, K, K)
        batch = graph_batch_of_inr(torch.from_numpy(inr), torch.from_numpy(gains),
                                   torch.from_numpy(noise.copy()), torch.from_numpy(pmax.copy()),
                                   None if mask is None else torch.from_numpy(mask.copy()))
        out = model(batch, prompt) if graph is None else run_frozen(graph, batch, prompt)
        # maximum then minimum: np.clip's bounds (NaN kept), without its per-call overhead
        return np.minimum(np.maximum(out.numpy(), 0.0), pmax)

    def _attenuations(self, gains: np.ndarray, noise: np.ndarray,
                      pmax: np.ndarray) -> np.ndarray | None:
        """Common attenuations ``(B, M)`` dB to try per snapshot (0: none); None: nothing
        to try for any snapshot (the model's answer stands as it is)."""
        columns = []
        ceiling = self._ceilings.get(self._path_for("sum")) if self.snr_ceiling else None
        if ceiling is not None:
            d0 = direct_inr_db_mean(gains, noise, pmax)  # (B,) dB
            if (d0 > ceiling.threshold_db).any():  # else: the identity, nothing more to do
                columns.append(ceiling.attenuations_db(d0))  # (B, 3)
        if self.ensemble:
            columns.append(np.broadcast_to(np.asarray(ENSEMBLE_DB), (len(gains), len(ENSEMBLE_DB))))
        return np.concatenate(columns, axis=-1) if columns else None

    def _adapted(self, power: np.ndarray, attenuations: np.ndarray,
                 snapshot: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
                 objective: Objective) -> np.ndarray:
        """``power (B, K)`` replaced, on the snapshots with an attenuation to try, by the
        best of it and the model's answers to the attenuated inputs (module
        :mod:`rrm.models.gfm.adapt`), ranked by ``objective`` under the reported CSI."""
        gains, noise, pmax, mask = snapshot
        rows = np.asarray(attenuations.any(-1), bool)  # (B,)
        sub = attenuations[rows].T  # (M, r)
        m, r, k = sub.shape[0], sub.shape[1], gains.shape[-1]
        scaled = gains[rows][None] * 10.0 ** (-sub / 10.0)[:, :, None, None]  # (M, r, K, K)

        def tiled(x: np.ndarray) -> np.ndarray:
            return np.broadcast_to(x[rows], (m, *x[rows].shape)).reshape(m * r, *x.shape[1:])

        out = self._forward(scaled.reshape(m * r, k, k), tiled(noise), tiled(pmax),
                            None if mask is None else tiled(mask), objective.name)
        candidates = [power[rows][None], out.reshape(m, r, k)]
        if self.ensemble:
            candidates.append(np.stack(binarised(power[rows], pmax[rows])))
        reported = gains[rows] if mask is None else physics.apply_csi_mask(gains[rows], mask[rows])
        adapted = power.copy()
        adapted[rows] = best_by_utility(np.concatenate(candidates), reported, noise[rows],
                                        _rows_of(objective, rows))
        return adapted


def gfm_wmmse(checkpoint: str | Path | None = None, threads: int = 1,
              refine_iterations: int = 10, *, name: str = "gfm-wmmse",
              shift_threshold: float = SHIFT_THRESHOLD) -> GFMPolicy:
    """``gfm`` polished by ``refine_iterations`` warm-started WMMSE iterations (a full
    WMMSE run where the shift score is above ``shift_threshold``)."""
    return GFMPolicy(checkpoint, threads, refine_iterations, name=name,
                     shift_threshold=shift_threshold)


def gfm_ensemble(checkpoint: str | Path | None = None, threads: int = 1, *,
                 name: str = "gfm-ensemble") -> GFMPolicy:
    """``gfm`` with the test-time ensemble on every snapshot: the model's answers to common
    gain scalings, their binarised versions and full reuse, the best under the reported
    CSI kept (:mod:`rrm.models.gfm.adapt`; never below the model alone nor full reuse)."""
    return GFMPolicy(checkpoint, threads, name=name, ensemble=True)


def pcgnn(checkpoint: str | Path | None = None, threads: int = 1, *,
          name: str = "pcgnn") -> GFMPolicy:
    """The PCGNN baseline (Shen et al.): the shipped switchable MPNN, or ``checkpoint``."""
    return GFMPolicy(checkpoint or CHECKPOINTS / PCGNN_CHECKPOINT, threads, name=name)


def _select(state: InterferenceState, rows: np.ndarray) -> InterferenceState:
    """The snapshots ``rows`` (bool ``[n]``) of an ``[n, K, K]`` state."""
    k = state.num_links
    n = len(rows)
    mask = None if state.csi_mask is None else np.broadcast_to(
        np.asarray(state.csi_mask, bool), (n, k, k))[rows]
    return InterferenceState(np.asarray(state.gains)[rows],
                             state.noise_per_link.reshape(n, k)[rows],
                             state.pmax_per_link.reshape(n, k)[rows], mask)


def _stack(group: Sequence[InterferenceState], k: int) -> InterferenceState:
    """``n`` single snapshots of ``k`` links as one ``[n, K, K]`` state."""
    masks = None if all(s.csi_mask is None for s in group) else np.stack(
        [np.ones((k, k), bool) if s.csi_mask is None else np.asarray(s.csi_mask, bool)
         for s in group])
    return InterferenceState(
        np.stack([np.asarray(s.gains, np.float64) for s in group]),
        np.stack([s.noise_per_link for s in group]),
        np.stack([s.pmax_per_link for s in group]),
        masks)


def _rows_of(objective: Objective, rows: np.ndarray) -> Objective:
    """``objective`` for the snapshots ``rows`` of a batch (per-snapshot ``wsr`` weights)."""
    weights = objective.weights
    if weights is None or np.ndim(weights) < 2:
        return objective
    return objective.with_weights(np.asarray(weights)[rows])


def _refiner(iterations: int) -> WmmsePolicy | None:
    """Single-start WMMSE capped at ``iterations``, warm-started from the model's powers."""
    if iterations < 0:
        raise InvalidInput(f"refine_iterations must be >= 0, got {iterations}")
    return WmmsePolicy(max_iter=iterations) if iterations else None
