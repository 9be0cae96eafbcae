"""The xApp slot loop: receive -> decide -> guards/fallback -> control -> ack.

One :class:`SlotLoop` serves one subscription. Every indication gets exactly
one answer (a control or a refusal) unless it is a duplicate or stale (same
or older sequence number on its channel), or the overload policy drops it
(past its deadline, replaced by a newer one of its node, no time left even
for its cheapest answer: :mod:`rrm.xapp.admission`); each of those is dropped
and counted once: the loop never answers the same indication twice. The transport hands over
indications already decoded (or the refusal that answers them); recording
and reference comparisons are observers (:mod:`rrm.xapp.observer`), not loop work.

What a hostile peer could use is checked here (docs/security.md): an
indication on another channel than the subscription's, or from a node the
subscription ack did not list, is dropped and counted, never answered (so
per-stream state holds only the subscription's own nodes); sequence numbers
compare in serial-number arithmetic modulo 2^64 (RFC 1982: ``seq`` is newer
than ``last`` when ``0 < (seq - last) mod 2^64 < 2^63``), so the stream goes on
after 2^64 - 1 wraps to 0; controls are sent without awaiting their acks
(:mod:`rrm.xapp.transport.inflight`): an ack that does not answer its control,
or does not come within 1 s, is counted and the stream goes on; every
indication lost before the loop (the transport's queue evictions, unreadable
frames) is counted too, all under ``rrm_xapp_dropped{reason}`` and the summary's ``dropped``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog

from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    Header,
    IndicationMsg,
    Outcome,
    Refusal,
)
from rrm.xapp import admission
from rrm.xapp.decision import Decider, Decision
from rrm.xapp.health import HealthState
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.observer import LoopObserver
from rrm.xapp.transport.base import E2Client, Received
from rrm.xapp.transport.inflight import MAX_INFLIGHT_CONTROLS, ControlPipe, Settled

log = structlog.get_logger("rrm.xapp.loop")
LATENCY_WINDOW = 100_000  # slots kept for percentiles
MAX_BATCH = 32  # queued indications decided together (one batched forward pass per size)
# queued indications taken per turn: a node's older ones are replaced by its newest, so the
# loop answers the freshest CSI instead of draining a backlog oldest first
MAX_DRAIN = 128
# (channel, node) streams whose last sequence number is kept; the least recently seen
# is forgotten beyond this (a real subscription has a handful)
MAX_TRACKED_STREAMS = 4096
SEQ_MODULUS = admission.SEQ_MODULUS  # sequence numbers are uint64 on the wire


@dataclass
class LoopStats:
    """Counters and samples behind the summary (``rrm demo --json``)."""

    slots: int = 0
    controls: int = 0
    refusals: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    deadline_misses: int = 0
    ack_mismatches: int = 0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    stage_ms: dict[str, deque[float]] = field(default_factory=dict)
    utility: dict[str, list[float]] = field(default_factory=lambda: {
        "policy": [], "wmmse": [], "full_reuse": [], "realised": []})

    def summary(self, policy: str) -> dict[str, object]:
        """The summary object of the docs/architecture.md ``rrm demo --json`` contract."""
        lat = np.asarray(self.latency_ms, dtype=np.float64)
        pct = (lambda q: round(float(np.percentile(lat, q)), 3)) if lat.size else (lambda q: None)
        mean = {k: (round(float(np.mean(v)), 4) if v else None) for k, v in self.utility.items()}
        return {"policy": policy, "slots": self.slots, "controls": self.controls,
                "refusals": self.refusals, "fallbacks": dict(self.fallbacks),
                "deadline_misses": self.deadline_misses, "dropped": dict(self.dropped),
                "ack_mismatches": self.ack_mismatches,
                "latency_ms": {"p50": pct(50), "p99": pct(99)}, "utility": mean}


class SlotLoop:
    """Serves one subscription until stopped or the transport breaks.

    Args:
        client: a subscribed E2 client.
        decider: policy + guards + fallback.
        metrics / health: observability, updated every slot.
        observers: called for every fresh indication, its decision and its ack
            (the trace recorder, the demo's reference comparison).
        deadline_fraction: share of the time left until the indication's
            deadline given to the policy.
        stats / last_seq: counters and the last sequence number per stream,
            kept across reconnects by the caller.
        max_batch: indications already queued when one arrives (several nodes
            in the same slot) are taken together, up to this many, and a policy
            that ``batches_slots`` decides them in one pass first
            (:meth:`rrm.xapp.decision.Decider.prefetch`); 1 disables batching.
        channel_id: the subscription's channel (from its ack); indications on
            any other are dropped (``foreign_channel``). None accepts any.
        node_ids: the nodes the subscription ack listed; indications from any
            other are dropped (``foreign_node``). Empty accepts any.
        max_inflight: controls per node sent and still awaiting their acks
            (:class:`rrm.xapp.transport.inflight.ControlPipe`); 0 awaits each ack inline.
        batch_window_s: after the first indication, how long the loop waits for
            the other nodes' indications of the slot to decide them in one pass
            (never past the earliest deadline less the batch's expected cost;
            not at all once every known node has one in the batch), s; 0: no wait.
        clock_ns: wall clock, ns (the deadlines' clock; injectable for tests).
    """

    def __init__(self, client: E2Client, decider: Decider, metrics: XAppMetrics,
                 health: HealthState, observers: Sequence[LoopObserver] = (),
                 deadline_fraction: float = 0.8, stats: LoopStats | None = None,
                 last_seq: dict[tuple[str, str], int] | None = None,
                 max_batch: int = MAX_BATCH, channel_id: str | None = None,
                 node_ids: frozenset[str] = frozenset(),
                 max_inflight: int = MAX_INFLIGHT_CONTROLS, batch_window_s: float = 0.0,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.client, self.decider, self.metrics, self.health = client, decider, metrics, health
        # controls sent without awaiting their acks (rrm.xapp.transport.inflight)
        self.pipe: ControlPipe[tuple[Received, Decision]] = ControlPipe(client, max_inflight)
        self.batch_window_s, self.clock_ns = batch_window_s, clock_ns
        self.observers = tuple(observers)
        self.max_batch = max(1, max_batch)
        self.deadline_fraction = deadline_fraction
        self.stats = stats or LoopStats()
        # kept across reconnects by the caller, so a resumed channel's repeats are caught
        self._last_seq = {} if last_seq is None else last_seq
        # overload (docs/architecture.md, "Overload"): running cost averages, the
        # headers served their cheapest answer this turn, and per node the turn of its
        # last policy decision (the node decided longest ago keeps the policy first)
        self.costs = admission.Costs()
        self._shed: frozenset[Header] = frozenset()
        self._decided_at: dict[str, int] = {}
        self._turn = 0
        self.channel_id, self.node_ids = channel_id, node_ids
        self._client_drops: Counter[str] = Counter()  # the transport's counts already taken

    def run(self, stop: threading.Event, max_slots: int | None = None,
            poll_s: float = 0.2) -> None:
        """Process indications until ``stop`` is set or ``max_slots`` were answered; then
        settle the controls still in flight (their acks awaited until their deadlines,
        or counted lost at once when the stream broke)."""
        broken = True
        try:
            self._run(stop, max_slots, poll_s)
            broken = False
        finally:
            self._settle(self.pipe.drain(wait=not broken))

    def _run(self, stop: threading.Event, max_slots: int | None, poll_s: float) -> None:
        while not stop.is_set() and (max_slots is None or self.stats.slots < max_slots):
            first = self.client.next_indication(poll_s)
            self.health.beat()
            self._sync_drops()
            if first is None:
                self._settle(self.pipe.collect())
                continue
            room = MAX_DRAIN if max_slots is None else max_slots - self.stats.slots
            batch = [first, *admission.queued(self.client, min(MAX_DRAIN, room) - 1)]
            self._serve(self._plan(self._gather(batch, min(self.max_batch, room))))

    def _serve(self, plan: admission.Plan) -> None:
        """Answer a turn's plan: the cheap answers, then one batched pass, then the
        decided answers; one whose deadline passed meanwhile is dropped (``expired``)."""
        self._shed = plan.shed
        # a path the plan shut is measured again soon (admission.Costs.aged)
        self.costs = self.costs.aged(decided=bool(plan.shed) and not plan.decided,
                                     cheap=bool(plan.no_time) and not plan.shed)
        try:
            for received in plan.first:
                self._answer_live(received)
            decided = [r.indication for r in plan.decided if r.indication is not None]
            # a lone one takes the batched path too (on this thread, no pool wait): a pool
            # hop and a wait cut at its budget, then a WMMSE fallback whose running average
            # shrinks the next budgets, cost more than the pass itself (one node at 20 ms
            # slots: most answers were such fallbacks; bench/results/closed_loop.md)
            min_batch = 1
            n = min(len(decided), self.max_batch)
            if self.max_batch > 1 and self.decider.policy.batches_slots and n >= min_batch:
                t0 = time.perf_counter()
                self.decider.prefetch(decided[:n], min_batch=min_batch)
                self.costs = self.costs.after_pass((time.perf_counter() - t0) / n)
            for received in plan.decided:
                self._answer_live(received)
        finally:
            self._shed = frozenset()

    def _answer_live(self, received: Received) -> None:
        """:meth:`process` ``received`` unless its deadline has passed: then it is dropped
        (``expired``) without a round trip (the node would reject a late control)."""
        if admission.expired(received, self.clock_ns()):
            self._drop("expired")
        else:
            self.process(received)

    def _gather(self, batch: list[Received], limit: int) -> list[Received]:
        """``batch`` with what arrives within the batching window (docs/architecture.md,
        "Batching window"; :func:`rrm.xapp.admission.gather`)."""
        # the subscription's nodes, or those answered so far (a bounded table)
        known = self.node_ids or {node for _, node in self._last_seq}
        return admission.gather(self.client, batch, limit, window_s=self.batch_window_s,
                                clock_ns=self.clock_ns,
                                cost_s=self.costs.policy_s + self.costs.answer_s, known=known)

    def _plan(self, batch: list[Received]) -> admission.Plan:
        """What this turn answers and how (docs/architecture.md, "Overload"): the
        indications past their deadline are dropped (``expired``); when not all the
        rest can be decided in time, a node's older indications behind its newest are
        dropped too (``replaced``); :func:`rrm.xapp.admission.plan` sheds the rest or
        drops those not even the cheapest answer would reach in time (``no_time``)."""
        live, expired = admission.split_expired(batch, self.clock_ns())
        replaced = 0
        # overload: only a node's freshest CSI is worth work, and planning a backlog
        # that is about to be replaced would cost milliseconds per turn
        if admission.overloaded(live, self.clock_ns(), self.costs, sheddable=self._sheddable):
            live, replaced = admission.latest(live, self._foreign)
        plan = admission.plan(live, self.clock_ns(), self.costs, sheddable=self._sheddable,
                              priority=lambda r: self._decided_at.get(r.header.node_id, 0))
        for reason, n in (("expired", expired), ("replaced", replaced),
                          ("no_time", len(plan.no_time))):
            if n:
                self._drop(reason, n)
        return plan

    def _sheddable(self, received: Received) -> bool:
        """``received`` has a cheapest answer to be shed to (:meth:`Decider.sheddable`)."""
        return received.indication is not None and self.decider.sheddable(received.indication)

    def _sync_drops(self) -> None:
        """Count what the transport lost since the last turn (queue evictions, garbage)."""
        drops = getattr(self.client, "drops", None)  # test doubles of E2Client may lack it
        if drops is None:
            return
        now = drops()
        for reason, total in now.items():
            new = total - self._client_drops[reason]
            if new > 0:
                self._drop(reason, new)
        self._client_drops = now

    def sync_drops(self) -> None:
        """Count what the transport lost since the last turn (after the client is closed)."""
        self._sync_drops()

    def _drop(self, reason: str, n: int = 1) -> None:
        self.stats.dropped[reason] += n
        self.metrics.child(self.metrics.dropped, reason).inc(n)

    def process(self, received: Received) -> ControlMsg | None:
        """Answer one indication; returns the control sent (None when dropped)."""
        t0 = time.perf_counter()
        header = received.header
        if not self._fresh(header):
            return None
        self.stats.slots += 1
        node = self.metrics.node_label(header.node_id)
        self.metrics.child(self.metrics.indications, node).inc()
        for observer in self.observers:
            observer.on_indication(received)
        decision = self._answer(received)
        control = ControlMsg(header, decision.answer, decision.policy,
                             self.decider.policy.version, decision.fallback_reason,
                             time.time_ns() - received.received_ns)
        for observer in self.observers:
            observer.on_decision(received, decision)
        t1 = time.perf_counter()
        settled = self.pipe.send(control, (received, decision))
        sent_ns = self.clock_ns()
        # spent in this call (the batch share was spent before it, in the batched pass)
        decide_s = decision.policy_s - decision.batch_s + decision.guards_s + decision.fallback_s
        self._settle(settled)  # acks of earlier controls (inline: this one's), with "send"
        t2 = time.perf_counter()
        self._account(node, header, decision, sent_ns, received.received_ns)
        one_way_s = max(received.received_ns - header.timestamp_ns, 0) / 1e9  # same host clocks
        self._observe_stages((
            ("decode", received.decode_s), ("encode", max(t1 - t0 - decide_s, 0.0)),
            ("send", t2 - t1), ("policy", decision.policy_s), ("guards", decision.guards_s),
            ("fallback", decision.fallback_s), ("transport_in", one_way_s)))
        t3 = time.perf_counter()  # accounting included: what "total" leaves out is tiny
        self._observe_stages((("account", t3 - t2),
                              ("total", received.decode_s + decision.batch_s + t3 - t0)))
        self._learn(received, decision, t2 - t0)
        return control

    def _learn(self, received: Received, d: Decision, answer_s: float) -> None:
        """Update the running costs with one answer's measured times (``answer_s``: in
        :meth:`process` up to the send, s) and the node's turn of its last policy
        decision."""
        if d.fallback_reason == "shed":
            self.costs = self.costs.after_cheap(answer_s)
            return
        if received.indication is None or isinstance(d.answer, Refusal):
            return
        # a batch share was spent before this call, in the pass (learnt there); a pool
        # wait cut at its budget (guard "deadline") measures the budget, not the policy
        own_policy_s = d.policy_s - d.batch_s
        learnt = not d.batch_s and d.fallback_reason != "deadline"
        self.costs = self.costs.after_decided(answer_s - own_policy_s,
                                              own_policy_s if learnt else None)
        node = received.header.node_id
        self._turn += 1
        self._decided_at.pop(node, None)
        self._decided_at[node] = self._turn  # re-inserted: least recently decided first
        if len(self._decided_at) > MAX_TRACKED_STREAMS:
            del self._decided_at[next(iter(self._decided_at))]

    def _settle(self, settled: list[Settled[tuple[Received, Decision]]]) -> None:
        """Account the acks that came (observers see them) and count the lost or
        rejected ones (``rrm_xapp_dropped{reason}``, the summary's ``dropped``)."""
        for s in settled:
            if s.acked is not None and s.pending is not None:
                received, decision = s.pending.context
                node = self.metrics.node_label(received.header.node_id)
                self._check_ack(node, decision, s.acked.ack)
                for observer in self.observers:
                    observer.on_ack(received, s.pending.request, s.acked)
                continue
            self._drop(s.cause)
            request = s.pending.request if s.pending is not None else None
            log.warning("ack_lost" if s.cause == "ack_lost" else "ack_rejected",
                        cause=s.cause,
                        node=request.header.node_id[:64] if request is not None else None,
                        seq=request.header.sequence_number if request is not None else None)

    def _answer(self, received: Received) -> Decision:
        """The decider's answer, or the refusal the indication gets instead."""
        ind = received.indication
        if ind is None:
            assert received.refusal is not None
            return Decision(received.refusal, self.decider.policy.name)
        remaining_s = (ind.header.deadline_ns - self.clock_ns()) / 1e9
        if ind.header.deadline_ns > 0 and remaining_s <= 0:
            # Too late to matter: refuse at once so the loop catches up.
            detail = f"indication dequeued {-remaining_s * 1e3:.2f} ms after its deadline"
            return self._refusal(Cause.TIMER_EXPIRED, detail)
        if ind.header in self._shed:
            cheapest = self.decider.cheapest(ind)
            if cheapest is not None:
                return cheapest
        return self._decide(ind, remaining_s * self.deadline_fraction)

    def _refusal(self, cause: Cause, detail: str) -> Decision:
        return Decision(Refusal(cause, detail[:200]), self.decider.policy.name)

    def _decide(self, ind: IndicationMsg, budget_s: float) -> Decision:
        """The decider's answer; FAILED_TO_EXECUTE when even its fallback raised."""
        try:
            return self.decider.decide(ind, budget_s)
        except Exception as err:  # noqa: BLE001 - the loop outlives any decision failure
            log.exception("decision_failed", node=ind.header.node_id, slot=ind.header.slot)
            return self._refusal(Cause.FAILED_TO_EXECUTE,
                                 f"no allocation could be computed ({type(err).__name__}: {err})")

    def _fresh(self, header: Header) -> bool:
        key = (header.channel_id, header.node_id)
        reason = self._foreign(header)
        seq = header.sequence_number
        last = self._last_seq.get(key)
        if not reason and last is not None and not newer(seq, last):
            reason = "duplicate" if seq == last else "stale"
        if reason:
            self._drop(reason)
            log.warning("indication_dropped", reason=reason, node=key[1][:64], seq=seq,
                        last=last, channel=key[0][:64])
            return False
        self._last_seq.pop(key, None)
        self._last_seq[key] = seq  # re-inserted: the dict's order is least recently seen first
        if len(self._last_seq) > MAX_TRACKED_STREAMS:  # hostile channel ids cannot grow memory
            del self._last_seq[next(iter(self._last_seq))]
        return True

    def _foreign(self, header: Header) -> str:
        """Why an indication does not belong to this subscription ('' when it does)."""
        if self.channel_id is not None and header.channel_id != self.channel_id:
            return "foreign_channel"
        if self.node_ids and header.node_id not in self.node_ids:
            return "foreign_node"
        return ""

    def _account(self, node: str, header: Header, d: Decision, sent_ns: int,
                 received_ns: int) -> None:
        m, s = self.metrics, self.stats
        if isinstance(d.answer, Refusal):
            s.refusals += 1
            m.child(m.refusals, node, d.answer.cause.name.lower()).inc()
        else:
            s.controls += 1
            m.child(m.controls, node, d.policy).inc()
        if d.fallback_reason:
            s.fallbacks[d.fallback_reason] += 1
            m.child(m.fallbacks, node, d.fallback_reason).inc()
        if sent_ns > header.deadline_ns > 0:
            s.deadline_misses += 1
            m.child(m.deadline_misses, node).inc()
        s.latency_ms.append((sent_ns - received_ns) / 1e6)

    def _observe_stages(self, stages: tuple[tuple[str, float], ...]) -> None:
        """Stage seconds into the histogram and the summary's samples. ``total`` is the
        sum of the loop's stages (``transport_in`` is before the loop)."""
        observe, samples = self.metrics.stage_seconds.observe, self.stats.stage_ms
        for stage, sec in stages:
            observe(stage, sec)
            window = samples.get(stage)
            if window is None:
                window = samples[stage] = deque(maxlen=LATENCY_WINDOW)
            window.append(sec * 1e3)

    def _check_ack(self, node: str, d: Decision, ack: AckMsg) -> None:
        applied = ack.applied_source.name.lower()
        self.metrics.child(self.metrics.acks, node, ack.outcome.name.lower(), applied).inc()
        expect_applied = not isinstance(d.answer, Refusal)
        if expect_applied and (ack.outcome != Outcome.ACCEPTED or
                               ack.applied_source not in (AppliedSource.CONTROL,
                                                          AppliedSource.UNSPECIFIED)):
            self.stats.ack_mismatches += 1
            log.warning("control_not_applied", node=node, outcome=ack.outcome.name,
                        cause=ack.cause.name, applied=applied, detail=ack.detail)
        if ack.realised and not math.isfinite(ack.utility):
            self._drop("utility_non_finite")  # the ack stands; its utility is not averaged
        elif ack.realised:
            self.stats.utility["realised"].append(ack.utility)
            self.metrics.child(self.metrics.utility, node).set(ack.utility)


def newer(seq: int, last: int) -> bool:
    """``seq`` comes after ``last`` in serial-number arithmetic modulo 2^64 (RFC 1982).

    ``0 < (seq - last) mod 2^64 < 2^63``: 0 follows 2^64 - 1, and a number
    more than 2^63 ahead counts as old (a replay of the previous half-cycle).
    """
    return admission.serial_newer(seq, last)
