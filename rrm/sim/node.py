"""One simulated E2 node: slots, controls, defaults and their counters.

A :class:`SimNode` wraps an environment and turns it into the node side of
the E2 contract, independent of transports and clocks:

* :meth:`open_slot` builds the indication of the current slot;
* :meth:`control` validates and applies (or rejects) a control request for
  it: late, duplicate, malformed or mismatched controls are rejected with a
  typed cause and counted;
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

import numpy as np

from rrm.core.types import Allocation, BeamformingAllocation, CellFreeState, PowerAllocation
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    ErgodicExtras,
    Header,
    IndicationMsg,
    NodeInfo,
    Outcome,
    QosParams,
    Refusal,
)
from rrm.sim.cellfree_env import CellFreeEnv
from rrm.sim.env import InterferenceEnv, StepResult

RESULTS_KEPT = 1000  # realised slot outcomes a node keeps (tests and demos read them)


@dataclass(frozen=True)
class NodeConfig:
    """How a node behaves on the wire.

    Attributes:
        node_id: E2 node identity.
        scenario: 'd2d', 'ergodic' or 'cellfree' (beamforming controls).
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


class SimNode:
    """An environment served as an E2 node (thread-safe)."""

    def __init__(self, env: InterferenceEnv | CellFreeEnv, cfg: NodeConfig,
                 seed: int | None = None) -> None:
        self.env, self.cfg = env, cfg
        self.counters: Counter[str] = Counter()
        # the latest outcomes only: a long-running node must not grow without bound
        self.results: deque[StepResult] = deque(maxlen=RESULTS_KEPT)
        self._lock = threading.Lock()
        self._seq = 0
        self._pending: dict[int, Allocation] = {}
        self._answered: set[int] = set()
        self._previous: Allocation | None = None
        self._open: IndicationMsg | None = None
        env.reset(seed=seed)

    @property
    def info(self) -> NodeInfo:
        """Scenario and sizes, for subscription acks."""
        period_ms = round(self.cfg.slot_period_s * 1000)
        if isinstance(self.env, CellFreeEnv):
            c = self.env.config
            return NodeInfo(self.cfg.node_id, self.cfg.scenario, c.num_ues, c.num_aps,
                            c.num_antennas, slot_period_ms=period_ms)
        return NodeInfo(self.cfg.node_id, self.cfg.scenario, self.env.topology.num_links,
                        slot_period_ms=period_ms)

    def open_slot(self, channel_id: str = "", now_ns: int | None = None) -> IndicationMsg:
        """The indication of the current slot, with its deadline."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            obs = self.env.observation
            self._seq += 1
            header = Header(self.cfg.node_id, obs.slot, self._seq, now,
                            now + int(self.cfg.slot_period_s * 1e9), channel_id)
            extras = None
            if self.cfg.scenario == "ergodic":
                assert isinstance(self.env, InterferenceEnv)
                t = self.env.topology
                extras = ErgodicExtras(t.large_scale, t.f_min, obs.topology_version,
                                       self.cfg.slot_duration_s)
            self._open = IndicationMsg(header, self.cfg.scenario, obs.reported, self.cfg.qos,
                                       extras)
            return self._open

    def control(self, msg: ControlMsg, now_ns: int | None = None) -> AckMsg:
        """Validate and apply (or reject) one control request."""
        now = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            reason = self._reject_reason(msg, now)
            if reason is not None:
                cause, detail = reason
                self.counters[cause.name.lower()] += 1
                return AckMsg(msg.header, Outcome.REJECTED, cause, detail)
            self._answered.add(msg.header.sequence_number)
            if isinstance(msg.decision, Refusal):
                self.counters["refusals"] += 1
                return AckMsg(msg.header, Outcome.REFUSAL_NOTED, msg.decision.cause,
                              msg.decision.detail, self._default_source(), msg.header.slot)
            return self._accept(msg)

    def _reject_reason(self, msg: ControlMsg, now: int) -> tuple[Cause, str] | None:
        h = msg.header
        if h.node_id != self.cfg.node_id:
            return Cause.UNKNOWN_SUBSCRIPTION, f"node {h.node_id!r} is not {self.cfg.node_id!r}"
        if h.sequence_number in self._answered:
            return Cause.DUPLICATE, f"slot {h.slot} (seq {h.sequence_number}) already answered"
        if h.sequence_number > self._seq:
            return Cause.STALE, f"seq {h.sequence_number} does not match any slot sent"
        ind = self._open
        if ind is None or h.sequence_number < ind.header.sequence_number:
            return Cause.TIMER_EXPIRED, f"control for slot {h.slot} arrived after its slot closed"
        if now > ind.header.deadline_ns:
            late_ms = (now - ind.header.deadline_ns) / 1e6
            return Cause.TIMER_EXPIRED, f"control {late_ms:.2f} ms after the deadline"
        d = msg.decision
        if isinstance(d, Refusal):
            return None
        if isinstance(ind.state, CellFreeState):
            if not isinstance(d, BeamformingAllocation):
                return Cause.INVALID_MESSAGE, "this node takes beamforming, not power control"
            return _check_beamforming(d, ind.state)
        if not isinstance(d, PowerAllocation):
            return Cause.INVALID_MESSAGE, "this node takes power control, not beamforming"
        return _check_power(d.power_w, np.asarray(ind.state.pmax_w, dtype=np.float64))

    def _accept(self, msg: ControlMsg) -> AckMsg:
        d = msg.decision
        alloc: Allocation
        if isinstance(d, BeamformingAllocation):
            alloc = BeamformingAllocation(np.asarray(d.v, dtype=np.complex128),
                                          np.asarray(d.x, dtype=np.int8))
        else:
            assert isinstance(d, PowerAllocation)
            alloc = PowerAllocation(np.asarray(d.power_w, dtype=np.float64))
        self.counters["accepted"] += 1
        target = msg.header.slot + self.cfg.control_delay_slots
        if self.cfg.control_delay_slots:
            self._pending[target] = alloc
            return AckMsg(msg.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                          applied_slot=target, realised=False)
        self._pending[target] = alloc
        result = self.env.realise(alloc)  # type: ignore[arg-type]  # matches the env (checked)
        return AckMsg(msg.header, Outcome.ACCEPTED, applied_source=AppliedSource.CONTROL,
                      applied_slot=target, rates=result.rates, utility=result.utility,
                      realised=True)

    def _default_source(self) -> AppliedSource:
        return AppliedSource.PREVIOUS if self._previous is not None else AppliedSource.FULL_POWER

    def close_slot(self) -> StepResult:
        """End the current slot (applying the default if needed) and advance."""
        with self._lock:
            slot = self.env.observation.slot
            alloc = self._pending.pop(slot, None)
            if alloc is None:
                self.counters["defaults"] += 1
                open_seq = self._open.header.sequence_number if self._open else None
                if open_seq is not None and open_seq not in self._answered:
                    self.counters["missing"] += 1
                alloc = self._previous or self.env.full_power()
            result = self.env.realise(alloc)  # type: ignore[arg-type]
            self.results.append(result)
            self._previous = alloc
            self._open = None
            self._answered = {s for s in self._answered if s > self._seq - 64}
            self.env.advance()
            return result


def _check_power(power: np.ndarray, pmax: np.ndarray) -> tuple[Cause, str] | None:
    if power.shape != pmax.shape:
        return Cause.INVALID_MESSAGE, f"{power.size} powers for K={pmax.size} links"
    if not np.all(np.isfinite(power)):
        return Cause.INVALID_MESSAGE, "powers contain NaN or Inf"
    if np.any(power < 0) or np.any(power > pmax * (1 + 1e-9)):
        return Cause.INVALID_MESSAGE, "powers outside [0, pmax]"
    return None


def _check_beamforming(d: BeamformingAllocation, state: CellFreeState) -> tuple[Cause, str] | None:
    """Shapes, finiteness and per-AP power (eq. 3c) of a cell-free control; fronthaul is
    the controller's responsibility (an overload only lowers the realised rates' value)."""
    v, x = np.asarray(d.v), np.asarray(d.x)
    if v.shape != state.h.shape or x.shape != state.h.shape[:-1]:
        return Cause.INVALID_MESSAGE, f"beamformers {v.shape} do not match channels {state.h.shape}"
    if not (np.all(np.isfinite(v)) and np.all(np.isin(x, (0, 1)))):
        return Cause.INVALID_MESSAGE, "beamformers not finite or association not in {0, 1}"
    power = (np.abs(v) ** 2).sum(axis=(-2, -1))
    if np.any(power > np.asarray(state.pmax_w, dtype=np.float64) * (1 + 1e-9)):
        return Cause.INVALID_MESSAGE, "AP power above its budget"
    return None
