"""The xApp slot loop: receive -> decode -> decide -> guards/fallback -> control -> record.

One :class:`SlotLoop` serves one subscription. Every indication gets exactly
one answer (a control or a refusal) unless it is a duplicate or stale (same
or older sequence number on its channel), which is dropped and counted:
the loop never answers the same indication twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import structlog

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.trace import RecordKind
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_indication, encode_ack, encode_control, header_from_pb
from rrm.core.wire.messages import (
    PROTOCOL_VERSION,
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    IndicationMsg,
    Outcome,
    Refusal,
)
from rrm.models.policy import make_policy
from rrm.xapp.decision import Decider, Decision
from rrm.xapp.health import HealthState
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.recorder import Recorder
from rrm.xapp.transport.base import E2Client, TransportError

log = structlog.get_logger("rrm.xapp.loop")
LATENCY_WINDOW = 100_000  # slots kept for percentiles
MAX_BATCH = 32  # queued indications decided together (one batched forward pass per size)
REFERENCE_SLOTS = 5_000  # slots kept for the end-of-run WMMSE / full-reuse comparison
# (channel, node) streams whose last sequence number is kept; the least recently seen
# is forgotten beyond this (a real subscription has a handful)
MAX_TRACKED_STREAMS = 4096


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
        """The summary object of the ARCHITECTURE.md ``rrm demo --json`` contract."""
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
        recorder: optional trace recorder.
        deadline_fraction: share of the time left until the indication's
            deadline given to the policy.
        references: keep each slot's CSI and decision so that
            :meth:`finish_references` can compare the policy with WMMSE and
            full reuse on the same CSI after the run (demos).
        max_batch: indications already queued when one arrives (several nodes
            in the same slot) are taken together, up to this many, and the
            policy is asked to decide them in one batched pass first
            (:meth:`rrm.xapp.decision.Decider.prefetch`); 1 disables batching.
    """

    def __init__(self, client: E2Client, decider: Decider, metrics: XAppMetrics,
                 health: HealthState, recorder: Recorder | None = None,
                 deadline_fraction: float = 0.8, references: bool = False,
                 stats: LoopStats | None = None,
                 last_seq: dict[tuple[str, str], int] | None = None,
                 max_batch: int = MAX_BATCH) -> None:
        self.client, self.decider, self.metrics, self.health = client, decider, metrics, health
        self.max_batch = max(1, max_batch)
        self.recorder = recorder
        self.deadline_fraction = deadline_fraction
        self.references = references
        self.stats = stats or LoopStats()
        # kept across reconnects by the caller, so a resumed channel's repeats are caught
        self._last_seq = {} if last_seq is None else last_seq
        self.reference_slots: list[tuple[InterferenceState, Objective, np.ndarray]] = []
        self.reference_policy = make_policy("wmmse")  # the standard single-start WMMSE

    def run(self, stop: threading.Event, max_slots: int | None = None,
            poll_s: float = 0.2) -> None:
        """Process indications until ``stop`` is set or ``max_slots`` were answered."""
        while not stop.is_set() and (max_slots is None or self.stats.slots < max_slots):
            raw = self.client.next_indication(poll_s)
            self.health.beat()
            if raw is None:
                continue
            room = self.max_batch if max_slots is None else max_slots - self.stats.slots
            batch = [(raw, time.time_ns()), *self._queued(min(self.max_batch, room) - 1)]
            decoded = self._prefetch([r for r, _ in batch]) if len(batch) > 1 else {}
            for item, received_ns in batch:
                self.process(item, received_ns, decoded.get(id(item)))

    def _queued(self, limit: int) -> list[tuple[pb.Indication, int]]:
        """Up to ``limit`` indications already waiting (none if the stream just broke:
        the next receive reports that, after this batch is answered)."""
        out: list[tuple[pb.Indication, int]] = []
        while len(out) < limit:
            try:
                raw = self.client.next_indication(0.0)
            except TransportError:
                break
            if raw is None:
                break
            out.append((raw, time.time_ns()))
        return out

    def _prefetch(self, raws: list[pb.Indication]) -> dict[int, IndicationMsg]:
        """Let the policy decide the batch's valid indications in one pass (cached);
        returns them decoded (by ``id`` of the raw message) so none is decoded twice."""
        inds: dict[int, IndicationMsg] = {}
        for raw in raws:
            if raw.header.protocol_version != PROTOCOL_VERSION:
                continue  # refused by process()
            try:
                inds[id(raw)] = decode_indication(raw)
            except Exception:  # noqa: BLE001 - process() refuses it and says why
                continue
        self.decider.prefetch(list(inds.values()))
        return inds

    def process(self, raw: pb.Indication, received_ns: int,
                decoded: IndicationMsg | None = None) -> ControlMsg | None:
        """Answer one indication; returns the control sent (None when dropped).

        ``decoded``: the same indication already decoded and validated (batches)."""
        t0 = time.perf_counter()
        if not self._fresh(raw):
            return None
        self.stats.slots += 1
        self.metrics.indications.labels(node=self.metrics.node_label(raw.header.node_id)).inc()
        ind, decision = (decoded, None) if decoded is not None else self._decode(raw)
        t1 = time.perf_counter()
        if ind is not None:
            remaining_s = (raw.header.deadline_ns - time.time_ns()) / 1e9
            if raw.header.deadline_ns > 0 and remaining_s <= 0:
                # Too late to matter: refuse at once so the loop catches up.
                detail = f"indication dequeued {-remaining_s * 1e3:.2f} ms after its deadline"
                decision = self._refusal(Cause.TIMER_EXPIRED, detail)
            else:
                decision = self._decide(ind, remaining_s * self.deadline_fraction)
        assert decision is not None
        control = self._control(raw, decision, received_ns)
        t2 = time.perf_counter()
        ack = self._send(control)
        sent_ns = time.time_ns()
        decide_s = decision.policy_s + decision.guards_s + decision.fallback_s
        self._account(raw, decision, control, ack, sent_ns, received_ns,
                      {"decode": t1 - t0, "encode": max(t2 - t1 - decide_s, 0.0),
                       "send": time.perf_counter() - t2, "total": time.perf_counter() - t0})
        if ind is not None and self.references:
            self._reference_utilities(ind, decision)
        return control

    def _refusal(self, cause: Cause, detail: str) -> Decision:
        return Decision(Refusal(cause, detail[:200]), self.decider.policy.name)

    def _decode(self, raw: pb.Indication) -> tuple[IndicationMsg | None, Decision | None]:
        """The validated indication, or the refusal that answers it instead."""
        version = raw.header.protocol_version
        if version != PROTOCOL_VERSION:
            return None, self._refusal(Cause.UNSUPPORTED_VERSION,
                                       f"xApp speaks protocol v{PROTOCOL_VERSION}, "
                                       f"indication is v{version}")
        try:
            return decode_indication(raw), None
        except InvalidInput as err:
            return None, self._refusal(Cause.INVALID_MESSAGE, str(err))
        except Exception as err:  # noqa: BLE001 - a decoder bug must not end the loop
            log.exception("indication_decode_failed", node=raw.header.node_id)
            return None, self._refusal(Cause.INVALID_MESSAGE,
                                       f"undecodable ({type(err).__name__}: {err})")

    def _decide(self, ind: IndicationMsg, budget_s: float) -> Decision:
        """The decider's answer; FAILED_TO_EXECUTE when even its fallback raised."""
        try:
            return self.decider.decide(ind, budget_s)
        except Exception as err:  # noqa: BLE001 - the loop outlives any decision failure
            log.exception("decision_failed", node=ind.header.node_id, slot=ind.header.slot)
            return self._refusal(Cause.FAILED_TO_EXECUTE,
                                 f"no allocation could be computed ({type(err).__name__}: {err})")

    def _fresh(self, raw: pb.Indication) -> bool:
        key = (raw.header.channel_id, raw.header.node_id)
        seq = raw.header.sequence_number
        last = self._last_seq.get(key)
        if last is not None and seq <= last:
            reason = "duplicate" if seq == last else "stale"
            self.stats.dropped[reason] += 1
            self.metrics.dropped.labels(reason=reason).inc()
            log.warning("indication_dropped", reason=reason, node=key[1], seq=seq, last=last)
            return False
        self._last_seq.pop(key, None)
        self._last_seq[key] = seq  # re-inserted: the dict's order is least recently seen first
        if len(self._last_seq) > MAX_TRACKED_STREAMS:  # hostile channel ids cannot grow memory
            del self._last_seq[next(iter(self._last_seq))]
        return True

    def _control(self, raw: pb.Indication, d: Decision, received_ns: int) -> ControlMsg:
        h = header_from_pb(raw.header)
        return ControlMsg(h, d.answer, d.policy, self.decider.policy.version,
                          d.fallback_reason, time.time_ns() - received_ns)

    def _send(self, control: ControlMsg) -> AckMsg:
        return self.client.control(control, timeout_s=1.0)

    def _account(self, raw: pb.Indication, d: Decision, control: ControlMsg, ack: AckMsg,
                 sent_ns: int, received_ns: int, stages: dict[str, float]) -> None:
        node = self.metrics.node_label(raw.header.node_id)
        m, s = self.metrics, self.stats
        if isinstance(d.answer, Refusal):
            s.refusals += 1
            m.refusals.labels(node=node, cause=d.answer.cause.name.lower()).inc()
        else:
            s.controls += 1
            m.controls.labels(node=node, policy=d.policy).inc()
        if d.fallback_reason:
            s.fallbacks[d.fallback_reason] += 1
            m.fallbacks.labels(node=node, guard=d.fallback_reason).inc()
        if sent_ns > raw.header.deadline_ns > 0:
            s.deadline_misses += 1
            m.deadline_misses.labels(node=node).inc()
        s.latency_ms.append((sent_ns - received_ns) / 1e6)
        one_way_s = max(received_ns - raw.header.timestamp_ns, 0) / 1e9  # same host clocks
        for stage, sec in {**stages, "policy": d.policy_s, "guards": d.guards_s,
                           "fallback": d.fallback_s, "transport_in": one_way_s}.items():
            m.stage_seconds.labels(stage=stage).observe(sec)
            s.stage_ms.setdefault(stage, deque(maxlen=LATENCY_WINDOW)).append(sec * 1e3)
        self._check_ack(node, d, ack)
        if self.recorder is not None:
            self.recorder.record(RecordKind.INDICATION, raw.SerializeToString())
            self.recorder.record(RecordKind.CONTROL, encode_control(control).SerializeToString())
            self.recorder.record(RecordKind.ACK, encode_ack(ack).SerializeToString())

    def _check_ack(self, node: str, d: Decision, ack: AckMsg) -> None:
        applied = ack.applied_source.name.lower()
        self.metrics.acks.labels(node=node, outcome=ack.outcome.name.lower(),
                                 applied=applied).inc()
        expect_applied = not isinstance(d.answer, Refusal)
        if expect_applied and (ack.outcome != Outcome.ACCEPTED or
                               ack.applied_source not in (AppliedSource.CONTROL,
                                                          AppliedSource.UNSPECIFIED)):
            self.stats.ack_mismatches += 1
            log.warning("control_not_applied", node=node, outcome=ack.outcome.name,
                        cause=ack.cause.name, applied=applied, detail=ack.detail)
        if ack.realised:
            self.stats.utility["realised"].append(ack.utility)
            self.metrics.utility.labels(node=node).set(ack.utility)

    def _reference_utilities(self, ind: IndicationMsg, d: Decision) -> None:
        """Keep the slot for the end-of-run comparison (never computed on the slot's path)."""
        state = ind.state
        if not isinstance(state, InterferenceState) or not isinstance(d.answer, PowerAllocation):
            return
        if len(self.reference_slots) < REFERENCE_SLOTS:
            self.reference_slots.append((state, self.decider.objective_for(ind), d.answer.power_w))

    def finish_references(self) -> None:
        """Utility of the policy, WMMSE and full reuse on the kept slots' CSI.

        WMMSE runs batched over slots of equal size after the run, so the
        comparison costs the slot loop nothing.
        """
        groups: dict[tuple[int, str], list[tuple[InterferenceState, Objective, np.ndarray]]] = {}
        for state, objective, power in self.reference_slots:
            groups.setdefault((state.num_links, repr(objective)), []).append(
                (state, objective, power))
        for items in groups.values():
            objective = items[0][1]
            gains = np.stack([s.gains for s, _, _ in items])
            noise = np.stack([np.broadcast_to(np.asarray(s.noise_w, float), (s.num_links,))
                              for s, _, _ in items])
            pmax = np.stack([np.broadcast_to(np.asarray(s.pmax_w, float), (s.num_links,))
                             for s, _, _ in items])
            wmmse = self.reference_policy.decide(InterferenceState(gains, noise, pmax), objective)
            assert isinstance(wmmse, PowerAllocation)
            for key, power in (("policy", np.stack([p for _, _, p in items])),
                               ("wmmse", wmmse.power_w), ("full_reuse", pmax)):
                utility = objective.utility(physics.rates(gains, power, noise))
                self.stats.utility[key].extend(float(u) for u in np.atleast_1d(utility))
        self.reference_slots.clear()
