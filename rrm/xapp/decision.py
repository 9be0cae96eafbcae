"""One slot's decision: policy under a deadline, guards, and the WMMSE fallback.

No transport here: :class:`Decider` maps a decoded indication to an
allocation (or a refusal) and says which guard, if any, replaced the
policy's output. The slot loop (:mod:`rrm.xapp.loop`) owns the wire.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import structlog

from rrm.core.cancel import Cancelled, StopToken
from rrm.core.errors import ConfigError
from rrm.core.objectives import Objective, get_objective
from rrm.core.types import (
    Allocation,
    BeamformingAllocation,
    CellFreeState,
    InterferenceState,
    PowerAllocation,
)
from rrm.core.wire.messages import Cause, Header, IndicationMsg, Refusal
from rrm.models.policy import Policy, PolicyUnavailable
from rrm.xapp.guards import DecisionContext, GuardConfig, check_decision, check_input

if TYPE_CHECKING:
    from rrm.models.cellfree.pcwmmse import PartialConnectionWmmse

log = structlog.get_logger("rrm.xapp.decision")
MIN_POLICY_BUDGET_S = 2e-4  # below this the policy is not started at all
WARM_START_FLOOR = 0.05  # share of Pmax: links off in the last slot may come back
MAX_CACHED_OBJECTIVES = 64  # distinct QoS pairs whose objective is kept (wire values: bounded)
# cell-free fallbacks: heuristic fronthaul scaling of the policy's own answer (fast, EGAT
# sec. V-A) or the pc-wmmse policy (tens of ms); the first is the default
CELLFREE_FALLBACKS = ("scale", "pc-wmmse")
DEFAULT_CELLFREE_FALLBACK = CELLFREE_FALLBACKS[0]
CELLFREE_FALLBACK_BUDGET_S = 5.0  # wall-time bound of pc-wmmse, s (XAppConfig documents it)


@dataclass(frozen=True)
class Decision:
    """What the xApp answers for one indication.

    Attributes:
        answer: the allocation sent, or a refusal.
        policy: name of the policy whose allocation is sent.
        fallback_reason: guard that tripped ('' when the policy's output went out).
        detail: the guard's one-line explanation.
        policy_s / guards_s / fallback_s: time spent per stage, seconds;
            ``policy_s`` includes ``batch_s``.
        batch_s: this indication's share of its slot's batched forward pass
            (:meth:`Decider.prefetch`, run before the decision: the pass's time
            split evenly over the indications it served), seconds.
    """

    answer: Allocation | Refusal
    policy: str
    fallback_reason: str = ""
    detail: str = ""
    policy_s: float = 0.0
    guards_s: float = 0.0
    fallback_s: float = 0.0
    batch_s: float = 0.0


class Decider:
    """Runs a policy with a time budget, checks it, and falls back when a guard trips.

    The policy runs on one worker thread so that a hung policy cannot block
    the slot: the decider waits at most the slot's budget. While a previous
    call is still running, the policy is skipped (``deadline`` fallback).

    Args:
        policy: the configured policy.
        fallback: the WMMSE policy used when a guard trips (bounded iterations).
        guards: guard thresholds.
        objective_name: utility the xApp maximises.
        policy_max_links: the largest K the policy supports (None: any).
        cellfree_fallback: for cell-free indications, ``scale`` (heuristic
            fronthaul scaling of the policy's own answer, EGAT sec. V-A;
            ``pc-wmmse`` when there is no finite answer) or ``pc-wmmse`` (run that policy).
        cellfree_fallback_budget_s: pc-wmmse runs on its own worker thread for
            at most this long, and never past the indication's deadline; past it
            (or while an earlier run is still going)
            the indication is refused with ``TIMER_EXPIRED`` and the node applies
            its default allocation. The guards' B, K, M bounds bound how long an
            abandoned run keeps its thread.
    """

    def __init__(self, policy: Policy, fallback: Policy, guards: GuardConfig,
                 objective_name: str, policy_max_links: int | None = None,
                 cellfree_fallback: str = DEFAULT_CELLFREE_FALLBACK,
                 cellfree_fallback_budget_s: float = CELLFREE_FALLBACK_BUDGET_S) -> None:
        if cellfree_fallback not in CELLFREE_FALLBACKS:
            raise ConfigError(f"cellfree_fallback must be one of {', '.join(CELLFREE_FALLBACKS)}"
                              f", got {cellfree_fallback!r}")
        self.policy = policy
        self.fallback = fallback
        self.cellfree_fallback = cellfree_fallback
        self._cellfree_policy: PartialConnectionWmmse | None = None
        self.cellfree_fallback_budget_s = cellfree_fallback_budget_s
        self._fallback_pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fallback")
        self._fallback_busy: cf.Future[Allocation] | None = None
        self._fallback_stop = StopToken()  # cancels the running pc-wmmse (budget, close)
        self.guards = guards
        self.objective_name = objective_name
        self.policy_max_links = policy_max_links
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")
        self._busy: cf.Future[Allocation] | None = None
        # decide_batch answers not yet sent, with each one's share of the pass (s)
        self._prefetched: dict[Header, tuple[Allocation, float]] = {}
        # shift scores of a prefetched slot, computed in one vectorised call per K
        self._scores: dict[Header, float] = {}
        # Time kept back from the policy's budget so a fallback still meets the deadline:
        # 1.5 x a running average of measured fallback durations.
        self.fallback_s_avg = 0.002
        self._last_power: dict[str, np.ndarray] = {}
        self._objectives: dict[tuple[float, float], Objective] = {}  # by (r_min, alpha)

    def objective_for(self, ind: IndicationMsg) -> Objective:
        """The objective with this indication's QoS parameters and weights."""
        key = (ind.qos.r_min, ind.qos.alpha)
        obj = self._objectives.get(key)
        if obj is None:  # built once per QoS pair (a node's stay the same slot after slot)
            if len(self._objectives) >= MAX_CACHED_OBJECTIVES:  # values come off the wire
                self._objectives.clear()
            obj = get_objective(self.objective_name, r_min=ind.qos.r_min, alpha=ind.qos.alpha)
            self._objectives[key] = obj
        weights = ind.state.weights
        return obj.with_weights(weights) if weights is not None else obj

    def decide(self, ind: IndicationMsg, budget_s: float) -> Decision:
        """Decide for one indication within ``budget_s`` seconds (fallback included).

        A policy waited for on the worker gets ``budget_s`` less a reserve for the
        fallback (1.5 x its running average), so a late answer still leaves time
        for one; an inline answer, or one from the slot's batched pass
        (:meth:`prefetch`), is judged against the whole ``budget_s``: it is in
        hand, and sending it beats any fallback (at N = 400 a WMMSE fallback
        outlasts the slot, so its reserve would starve every later slot; under
        overload a reserve grown by fallbacks would trip every later answer).
        """
        inline = self._inline(ind)
        # an answer in hand (inline, or from the slot's batched pass) is judged against
        # the whole budget: sending it beats any fallback
        in_hand = inline or ind.header in self._prefetched
        full_budget_s = budget_s
        budget_s = max(budget_s - 1.5 * self.fallback_s_avg, 0.0)
        limit = check_input(ind.state, self.guards)
        if not limit.passed:
            return Decision(Refusal(Cause.UNSUPPORTED_INPUT, limit.detail), self.policy.name)
        objective = self.objective_for(ind)
        # the policy's own bound, when it has one below the guards' (else the same check)
        support = (check_input(ind.state, self.guards, self.policy_max_links)
                   if self.policy_max_links else limit)
        t0 = time.perf_counter()
        batch_s = 0.0
        if not support.passed:
            alloc, verdict_guard, detail = None, support.guard, support.detail
        else:
            alloc, verdict_guard, detail, batch_s = self._run_policy(ind, objective, budget_s,
                                                                     inline)
        t1 = time.perf_counter()
        if alloc is not None and not verdict_guard:
            ctx = DecisionContext(ind.state, alloc, objective, t1 - t0,
                                  full_budget_s if in_hand else budget_s,
                                  self.policy.time_sharing, self._shift_score(ind))
            verdict = check_decision(ctx, self.guards)
            verdict_guard, detail = verdict.guard, verdict.detail
        t2 = time.perf_counter()
        if not verdict_guard and alloc is not None:
            self._remember(ind, alloc)
            # the batched pass ran before this call: its share is charged to the policy
            return Decision(alloc, self.policy.name, policy_s=t1 - t0 + batch_s,
                            guards_s=t2 - t1, batch_s=batch_s)
        log.info("guard_tripped", guard=verdict_guard, detail=detail,
                 node=ind.header.node_id, slot=ind.header.slot)
        safe, fallback_name = self._fallback(ind, objective, alloc, verdict_guard)
        self._remember(ind, safe)
        fallback_s = time.perf_counter() - t2
        self.fallback_s_avg = 0.8 * self.fallback_s_avg + 0.2 * fallback_s
        return Decision(safe, fallback_name, verdict_guard, detail,
                        t1 - t0 + batch_s, t2 - t1, fallback_s, batch_s)

    def _inline(self, ind: IndicationMsg) -> bool:
        """The policy answers ``ind`` inline (duck-typed policies may lack the hooks)."""
        if self._prefetched and ind.header in self._prefetched:
            return False  # decided with its slot's batch (in hand: see decide)
        answers_inline = getattr(self.policy, "answers_inline", None)
        if answers_inline is not None:
            return bool(answers_inline(ind.state))
        return bool(getattr(self.policy, "inline", False))

    def _run_policy(self, ind: IndicationMsg, objective: Objective, budget_s: float,
                    inline: bool = False) -> tuple[Allocation | None, str, str, float]:
        """The policy's answer, the guard that stopped it ('' if none) and why, and the
        share of a batched pass it was taken from (s; answered inline, no pool hop)."""
        prefetched = self._prefetched.pop(ind.header, None)
        if prefetched is not None:  # decided with its slot's batch
            return prefetched[0], "", "", prefetched[1]
        if inline:  # bounded and cheap: answered on the loop thread
            return (*self._call_inline(ind, objective), 0.0)
        if self._busy is not None and not self._busy.done():
            return None, "deadline", "policy still busy with an earlier slot", 0.0
        if budget_s < MIN_POLICY_BUDGET_S:
            # Starting the policy now would only compete with the fallback for the CPU.
            return None, "deadline", f"no time left for the policy ({budget_s * 1e3:.2f} ms)", 0.0
        self._busy = self._pool.submit(self.policy.decide, ind.state, objective)
        try:
            return self._busy.result(timeout=max(budget_s, 0.0)), "", "", 0.0
        except cf.TimeoutError:
            return None, "deadline", f"policy gave no answer within {budget_s * 1e3:.2f} ms", 0.0
        except PolicyUnavailable as err:
            return None, "policy_unavailable", str(err)[:200], 0.0
        except Exception as err:  # a faulty policy must not take the slot down
            return None, "policy_error", f"{type(err).__name__}: {err}"[:200], 0.0

    def _call_inline(self, ind: IndicationMsg, objective: Objective
                     ) -> tuple[Allocation | None, str, str]:
        """An ``inline`` policy's answer, called here; what stopped it, as the pool path."""
        try:
            return self.policy.decide(ind.state, objective), "", ""
        except PolicyUnavailable as err:
            return None, "policy_unavailable", str(err)[:200]
        except Exception as err:  # noqa: BLE001 - a faulty policy must not take the slot down
            return None, "policy_error", f"{type(err).__name__}: {err}"[:200]

    def _shift_score(self, ind: IndicationMsg) -> float | None:
        """The policy's shift score of this indication's state (None: not scored)."""
        if self.guards.shift_threshold < 0:
            return None
        cached = self._scores.pop(ind.header, None)
        if cached is not None:  # scored with its slot's batch
            return cached
        try:
            score = self.policy.shift_score(ind.state)
        except Exception as err:  # noqa: BLE001 - an unscored state is decided as before
            log.warning("shift_score_failed", error=f"{type(err).__name__}: {err}"[:200])
            return None
        return None if score is None else float(np.max(score))

    def prefetch(self, inds: list[IndicationMsg], min_batch: int = 2) -> None:
        """Decide several indications together when the policy ``batches_slots``.

        The policy's :meth:`~rrm.models.policy.Policy.decide_batch` answers (e.g.
        ``gfm``: one batched forward pass for all nodes of a slot) are kept until
        :meth:`decide` takes each for its indication, where the guards check it
        as any other answer. A failing batch only costs the batch: each
        indication is then decided on its own. Replaces what an earlier
        prefetch left unclaimed. ``min_batch``: fewer indications are left to
        :meth:`decide` (1: even one is decided here, on the calling thread: what
        the loop does under overload, where a pool hop and a timed-out wait
        followed by a WMMSE fallback cost more than the pass itself).
        """
        self._prefetched, self._scores = {}, {}
        if not self.policy.batches_slots or len(inds) < max(min_batch, 1):
            return
        t0 = time.perf_counter()
        try:
            answers, scores = self._decide_batch(inds)
        except Exception as err:  # noqa: BLE001 - the slots are decided one by one instead
            log.warning("prefetch_failed", error=f"{type(err).__name__}: {err}"[:200])
            return
        unscored = [i for i, score in zip(inds, scores, strict=True) if score is None]
        # scores come back only when the guard reads them (_decide_batch)
        self._scores = {i.header: score for i, score in zip(inds, scores, strict=True)
                        if score is not None}
        self._scores.update(self._batch_shift_scores(unscored))
        share = (time.perf_counter() - t0) / len(inds)
        self._prefetched = {i.header: (a, share) for i, a in zip(inds, answers, strict=True)}

    def _decide_batch(self, inds: list[IndicationMsg]
                      ) -> tuple[list[Allocation], list[float | None]]:
        """The policy's batched answers and the shift scores it computed with them (None:
        not scored there): ``decide_batch_scored`` when the policy has it (gfm: the scores
        from the features' own INRs) and the guard reads scores, else ``decide_batch``."""
        states = [i.state for i in inds]
        objectives = [self.objective_for(i) for i in inds]
        scored = getattr(self.policy, "decide_batch_scored", None)
        if scored is not None and self.guards.shift_threshold >= 0:
            answers, scores = scored(states, objectives)
            return list(answers), list(scores)
        return self.policy.decide_batch(states, objectives), [None] * len(inds)

    def _batch_shift_scores(self, inds: list[IndicationMsg]) -> dict[Header, float]:
        """Shift scores of the slot's single-snapshot interference states, one vectorised
        call per K (the numbers :meth:`_shift_score` would compute one by one; the
        descriptors are per-snapshot reductions). States it cannot stack, or a failing
        call, are left to be scored one by one."""
        if self.guards.shift_threshold < 0:
            return {}
        groups: dict[int, list[tuple[Header, InterferenceState]]] = {}
        for ind in inds:
            state = ind.state
            if (isinstance(state, InterferenceState) and not state.batched
                    and state.csi_mask is None):
                groups.setdefault(state.num_links, []).append((ind.header, state))
        scores: dict[Header, float] = {}
        for group in (g for g in groups.values() if len(g) > 1):
            states = [s for _, s in group]
            stacked = InterferenceState(np.stack([s.gains for s in states]),
                                        np.stack([s.noise_per_link for s in states]),
                                        np.stack([s.pmax_per_link for s in states]))
            try:
                batch = self.policy.shift_score(stacked)
            except Exception:  # noqa: BLE001 - scored one by one instead, as before
                continue
            if batch is not None:
                scores.update(zip((h for h, _ in group), map(float, np.ravel(batch)),
                                  strict=True))
        return scores

    def _fallback(self, ind: IndicationMsg, objective: Objective, alloc: Allocation | None,
                  guard: str) -> tuple[Allocation | Refusal, str]:
        """The safe answer and the name of what produced it."""
        if isinstance(ind.state, CellFreeState):
            return self._cellfree_fallback(ind.state, objective, alloc, guard,
                                           ind.header.deadline_ns)
        return self._interference_fallback(ind, objective), self.fallback.name

    def _cellfree_fallback(self, state: CellFreeState, objective: Objective,
                           alloc: Allocation | None, guard: str, deadline_ns: int = 0
                           ) -> tuple[Allocation | Refusal, str]:
        from rrm.models.cellfree.fronthaul import scale_allocation  # cell-free only

        try:
            if (self.cellfree_fallback == "scale" and isinstance(alloc, BeamformingAllocation)
                    and guard != "non_finite"):
                return scale_allocation(state, alloc, objective), "fronthaul-scaling"
            return self._pc_wmmse(state, objective, deadline_ns), "pc-wmmse"
        except Exception as err:  # last resort: silence is always within every budget
            log.error("fallback_failed", error=str(err)[:200])
            h = np.asarray(state.h)
            return BeamformingAllocation(np.zeros_like(h, dtype=np.complex128),
                                         np.zeros(h.shape[:-1], dtype=np.int8)), "silence"

    def _pc_wmmse(self, state: CellFreeState, objective: Objective,
                  deadline_ns: int = 0) -> Allocation | Refusal:
        """pc-wmmse within ``cellfree_fallback_budget_s`` and the indication's deadline
        (a control after it is refused by the node anyway), or a TIMER_EXPIRED refusal."""
        if self._fallback_busy is not None and not self._fallback_busy.done():
            return Refusal(Cause.TIMER_EXPIRED, "cell-free fallback still busy with an "
                                                "earlier slot")
        if self._cellfree_policy is None:
            from rrm.models.cellfree.pcwmmse import PartialConnectionWmmse  # cell-free only
            self._cellfree_policy = PartialConnectionWmmse()
        budget = self.cellfree_fallback_budget_s
        if deadline_ns > 0:
            budget = max(min(budget, (deadline_ns - time.time_ns()) / 1e9), 0.0)
        # the worker stops itself at the budget too: a run past it is never waited for
        self._fallback_stop = StopToken.within(budget)
        self._fallback_busy = self._fallback_pool.submit(
            self._cellfree_policy.decide, state, objective, self._fallback_stop)
        try:
            return self._fallback_busy.result(timeout=budget)
        except (cf.TimeoutError, Cancelled):  # Cancelled: the run met its budget first
            self._fallback_stop.cancel()  # frees the worker within one iteration
            log.warning("fallback_timed_out", fallback="pc-wmmse", budget_s=budget)
            return Refusal(Cause.TIMER_EXPIRED, f"cell-free fallback gave no answer within "
                                                f"{budget * 1e3:.0f} ms")

    def _interference_fallback(self, ind: IndicationMsg, objective: Objective) -> Allocation:
        state = ind.state
        assert isinstance(state, InterferenceState)
        previous = self._last_power.get(ind.header.node_id)
        try:
            if (previous is not None and previous.shape == (state.num_links,)
                    and self.fallback.supports_warm_start):
                # warm start from this node's previous decision (slow fading: close by)
                warm = np.maximum(previous, WARM_START_FLOOR * state.pmax_per_link)
                return self.fallback.decide_warm(state, objective, warm)
            return self.fallback.decide(state, objective)
        except Exception as err:  # last resort: full power is always feasible
            log.error("fallback_failed", error=str(err)[:200])
            return PowerAllocation(state.pmax_per_link.copy())

    def previous(self, ind: IndicationMsg) -> Decision | None:
        """This node's previous powers as the answer, when they still fit the indication
        (same K, within its budgets): what the loop serves for work it sheds under
        overload (``shed``; the node checks every control it applies)."""
        state, last = ind.state, self._last_power.get(ind.header.node_id)
        if (last is None or not self.sheddable(ind) or not isinstance(state, InterferenceState)
                or last.shape != (state.num_links,)
                or np.any(last > state.pmax_per_link) or np.any(last < 0)):
            return None
        return Decision(PowerAllocation(last.copy()), "previous", "shed",
                        "overload: the policy was skipped to meet the deadline")

    @staticmethod
    def sheddable(ind: IndicationMsg) -> bool:
        """``ind`` has a cheapest answer (:meth:`cheapest`): one snapshot of an
        interference network."""
        return isinstance(ind.state, InterferenceState) and np.ndim(ind.state.gains) == 2

    def cheapest(self, ind: IndicationMsg) -> Decision | None:
        """What the loop serves for work it sheds under overload (fallback reason
        ``shed``), without running the policy: the node's previous powers
        (:meth:`previous`), else full reuse (every link at its ``Pmax``, always
        within the budgets); None when ``ind`` is not :meth:`sheddable`."""
        previous = self.previous(ind)
        if previous is not None or not self.sheddable(ind):
            return previous
        assert isinstance(ind.state, InterferenceState)
        pmax = np.array(ind.state.pmax_per_link, dtype=np.float64)  # [K] W, a copy
        return Decision(PowerAllocation(pmax), "full-reuse", "shed",
                        "overload: the policy was skipped to meet the deadline "
                        "(no previous decision of this node)")

    def _remember(self, ind: IndicationMsg, alloc: Allocation | Refusal) -> None:
        if isinstance(alloc, PowerAllocation):
            self._last_power[ind.header.node_id] = np.asarray(alloc.power_w, dtype=np.float64)

    def close(self) -> None:
        """Release the worker threads: a hung policy call is abandoned, a running
        pc-wmmse is cancelled (it stops within one iteration, so the process can exit)."""
        self._fallback_stop.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._fallback_pool.shutdown(wait=False, cancel_futures=True)
