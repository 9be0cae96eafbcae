"""One simulated E2 node: slots, controls, defaults and their counters.

A :class:`SimNode` wraps an environment and turns it into the node side of
the E2 contract, independent of transports and clocks:

* :meth:`open_slot` builds the indication of the current slot;
* :meth:`control` validates and applies (or rejects) a control request for
  it: late, duplicate, malformed or mismatched controls (another node, another
  protocol version, a slot that is not the open one) are rejected with a
  typed cause and counted (that the control answers a subscription this node
  issued is the service's check: :class:`rrm.sim.simulator.Simulator`);
* :meth:`close_slot` ends the slot: if no valid control arrived, the
  documented default is applied (the previous applied allocation, else full
  power), then the environment advances.

With a control delay of d slots, the decision for slot s is applied in
slot s + d; the ack then says ``realised = False`` and the realised rates of
slot s + d are counted when that slot closes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Generic

from rrm.core.errors import clip
from rrm.core.validation import Violation
from rrm.core.wire.messages import (
    PROTOCOL_VERSION,
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    Header,
    IndicationMsg,
    NodeInfo,
    Outcome,
    QosParams,
    Refusal,
)
from rrm.sim.contract import A, Env, StepResult

RESULTS_KEPT = 1000  # realised slot outcomes a node keeps (tests and demos read them)


@dataclass(frozen=True)
class NodeConfig:
    """How a node behaves on the wire.

    Attributes:
        node_id: E2 node identity.
        scenario: 'd2d', 'ergodic' or 'cellfree': the label indications carry
            (what the node reports and accepts is the environment's to say).
        slot_period_s: time between indications, s (default 10 ms).
        control_delay_slots: slots between a decision and its application.
        qos: QoS parameters sent with d2d CSI.
        f_min: per-link minimum ergodic rate for ergodic nodes, bit/s/Hz.
        slot_duration_s: fading slot length reported for ergodic nodes (50 ms).
    """

    node_id: str = "node-0"
    scenario: str = "d2d"
    slot_period_s: float = 0.010
    control_delay_slots: int = 0
    qos: QosParams = QosParams()
    slot_duration_s: float = 0.05


class SimNode(Generic[A]):
    """An environment (:class:`rrm.sim.contract.Env`) served as an E2 node (thread-safe)."""

    def __init__(self, env: Env[Any, A], cfg: NodeConfig, seed: int | None = None) -> None:
        self.env: Env[Any, A] = env
        self.cfg = cfg
        self.counters: Counter[str] = Counter()
        # the latest outcomes only: a long-running node must not grow without bound
        self.results: deque[StepResult] = deque(maxlen=RESULTS_KEPT)
        self._lock = threading.Lock()
        self._seq = 0
        # per target slot: the admitted allocation, and its outcome when it was applied at
        # once (no control delay), so closing the slot does not compute the rates again
        self._pending: dict[int, tuple[A, StepResult | None]] = {}
        self._answered: set[int] = set()
        self._answered_order: deque[int] = deque()  # the same seqs, oldest first (pruning)
        self._previous: A | None = None
        self._open: IndicationMsg | None = None
        env.reset(seed=seed)

    @property
    def info(self) -> NodeInfo:
        """Scenario and sizes, for subscription acks."""
        sizes = self.env.sizes
        return NodeInfo(self.cfg.node_id, self.cfg.scenario, sizes.num_links, sizes.num_aps,
                        sizes.num_antennas, slot_period_ms=round(self.cfg.slot_period_s * 1000))

    def open_slot(self, channel_id: str = "", now_ns: int | None = None) -> IndicationMsg:
        """The indication of the current slot, with its deadline."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            obs = self.env.observe()
            self._seq += 1
            header = Header(self.cfg.node_id, obs.slot, self._seq, now,
                            now + int(self.cfg.slot_period_s * 1e9), channel_id)
            extras = self.env.extras(self.cfg.slot_duration_s)
            self._open = IndicationMsg(header, self.cfg.scenario, obs.reported, self.cfg.qos,
                                       extras)
            return self._open

    def control(self, msg: ControlMsg, now_ns: int | None = None) -> AckMsg:
        """Validate and apply (or reject) one control request."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            verdict = self._verdict(msg, now)
            if isinstance(verdict, tuple):
                cause, detail = verdict
                self.counters[cause.name.lower()] += 1
                return AckMsg(msg.header, Outcome.REJECTED, cause, detail)
            self._answered.add(msg.header.sequence_number)
            self._answered_order.append(msg.header.sequence_number)
            if isinstance(verdict, Refusal):
                self.counters["refusals"] += 1
                return AckMsg(msg.header, Outcome.REFUSAL_NOTED, verdict.cause, verdict.detail,
                              self._default_source(), msg.header.slot)
            return self._accept(msg, verdict)

    def _verdict(self, msg: ControlMsg, now: int) -> A | Refusal | tuple[Cause, str]:
        """The admitted allocation, the xApp's refusal, or why the control is rejected."""
        reason = self._reject_reason(msg, now)
        if reason is not None:
            return reason
        if isinstance(msg.decision, Refusal):
            return msg.decision
        admitted = self.env.admit(msg.decision)
        if isinstance(admitted, Violation):
            return Cause.INVALID_MESSAGE, clip(admitted.detail)
        return admitted

    def reject(self, msg: ControlMsg, cause: Cause, detail: str) -> AckMsg:
        """Reject ``msg`` without looking at it further (the service's own checks), counted."""
        with self._lock:
            self.counters[cause.name.lower()] += 1
        return AckMsg(msg.header, Outcome.REJECTED, cause, clip(detail))

    def _reject_reason(self, msg: ControlMsg, now: int) -> tuple[Cause, str] | None:
        h = msg.header
        if h.node_id != self.cfg.node_id:
            return Cause.UNKNOWN_SUBSCRIPTION, clip(
                f"node {h.node_id!r} is not {self.cfg.node_id!r}")
        if h.protocol_version != PROTOCOL_VERSION:
            return Cause.UNSUPPORTED_VERSION, (f"protocol version {h.protocol_version}, "
                                               f"this node speaks {PROTOCOL_VERSION}")
        if h.sequence_number in self._answered:
            return Cause.DUPLICATE, f"slot {h.slot} (seq {h.sequence_number}) already answered"
        if h.sequence_number > self._seq:
            return Cause.STALE, f"seq {h.sequence_number} does not match any slot sent"
        ind = self._open
        if ind is None or h.sequence_number < ind.header.sequence_number:
            return Cause.TIMER_EXPIRED, f"control for slot {h.slot} arrived after its slot closed"
        if h.slot != ind.header.slot:  # the sequence number names the open slot; so must this
            return Cause.STALE, f"slot {h.slot} is not the open slot {ind.header.slot}"
        if now > ind.header.deadline_ns:
            late_ms = (now - ind.header.deadline_ns) / 1e6
            return Cause.TIMER_EXPIRED, f"control {late_ms:.2f} ms after the deadline"
        return None

    def _accept(self, msg: ControlMsg, alloc: A) -> AckMsg:
        self.counters["accepted"] += 1
        target = msg.header.slot + self.cfg.control_delay_slots
        if self.cfg.control_delay_slots:
            self._pending[target] = (alloc, None)
            return AckMsg(msg.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                          applied_slot=target, realised=False)
        result = self.env.apply(alloc)  # pure: the outcome of this slot, kept for close_slot
        self._pending[target] = (alloc, result)
        return AckMsg(msg.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                      applied_slot=target, rates=result.rates, utility=result.utility,
                      realised=True)

    def _default_source(self) -> AppliedSource:
        return AppliedSource.PREVIOUS if self._previous is not None else AppliedSource.FULL_POWER

    def _forget_answers(self, older_than: int) -> None:
        """Forget answered seqs below ``older_than``: a late duplicate is then TIMER_EXPIRED.

        Only the open slot's seq is ever answered, so seqs arrive in increasing
        order and the oldest are at the front (no scan of the whole set).
        """
        order = self._answered_order
        while order and order[0] < older_than:
            self._answered.discard(order.popleft())

    def close_slot(self) -> StepResult:
        """End the current slot (applying the default if needed) and advance."""
        with self._lock:
            slot = self.env.observe().slot
            alloc, result = self._pending.pop(slot, (None, None))
            if alloc is None:
                self.counters["defaults"] += 1
                open_seq = self._open.header.sequence_number if self._open else None
                if open_seq is not None and open_seq not in self._answered:
                    self.counters["missing"] += 1
                alloc = self._previous or self.env.default_allocation()
            if result is None:
                result = self.env.apply(alloc)
            self.results.append(result)
            self._previous = alloc
            self._open = None
            self._forget_answers(older_than=self._seq - 63)
            self.env.advance()
            return result

