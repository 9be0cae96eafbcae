"""Shadowing a candidate policy: it decides every slot next to the active one, never actuated.

``shadow_checkpoint`` in the xApp config names a candidate checkpoint of the
configured policy (e.g. the output of ``rrm gfm finetune --from-trace``).
:class:`ShadowObserver` hands each answered interference slot (its reported
CSI, objective and the powers actually sent) to one worker thread through a
bounded queue: on the slot's path it only enqueues (a full queue skips the
slot, counted), so the candidate costs the slot loop no policy time, only
the CPU it shares. The worker runs the candidate on the same CSI and scores
both power vectors under the slot's objective on that CSI (eq. (1): the
utility of the rates ``log2(1 + SINR)``):

* metrics: ``rrm_xapp_shadow_utility{role="active"|"shadow"}``, the mean
  utility per slot over the last ``window`` scored slots, and
  ``rrm_xapp_shadow_slots{outcome="scored"|"skipped"|"failed"}``;
* the trace (when recording): one SHADOW record per scored slot, JSON
  ``{node, seq, slot, active_policy, active_version, shadow_version,
  active_utility, shadow_utility}`` (:func:`read_shadow` reads them back).

The active utility here is predicted on the reported CSI, the same as the
candidate's: a like-for-like comparison, not the node's realised utility.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from rrm.core import physics
from rrm.core.objectives import Objective
from rrm.core.trace import RecordKind, iter_records
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire.messages import IndicationMsg
from rrm.models.policy import Policy
from rrm.xapp.decision import Decision
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.observer import LoopObserver
from rrm.xapp.recorder import Recorder
from rrm.xapp.transport.base import Received

log = structlog.get_logger("rrm.xapp.shadow")
SHADOW_QUEUE = 8  # slots waiting for the candidate; more are skipped (bounded memory, CPU)
SHADOW_WINDOW = 64  # scored slots behind the utility gauges


@dataclass(frozen=True)
class ShadowJob:
    """One slot to shadow: CSI, objective and the active powers ``[K]`` W sent for it."""

    indication: IndicationMsg
    objective: Objective
    active_power: np.ndarray
    active_policy: str
    active_version: str


def slot_utility(state: InterferenceState, power: np.ndarray, objective: Objective) -> float:
    """Utility of ``power [K]`` W on ``state``'s CSI (gains ``[K, K]``), one float."""
    rates = physics.rates(state.gains, power, state.noise_per_link)  # (K,) bit/s/Hz
    return float(objective.utility(rates))


class ShadowObserver(LoopObserver):
    """Runs a candidate policy beside the active one on a worker thread (see the module).

    Args:
        objective_for: the objective an indication is decided under (the decider's).
        version_of: the active policy's version now (sent with controls).
        metrics: the xApp's metrics (shadow gauges and counters).
        recorder: where SHADOW records go (None: not recording).
        window: scored slots behind the utility gauges.
    """

    def __init__(self, objective_for: Callable[[IndicationMsg], Objective],
                 version_of: Callable[[], str], metrics: XAppMetrics,
                 recorder: Recorder | None = None, window: int = SHADOW_WINDOW) -> None:
        self.objective_for, self.version_of = objective_for, version_of
        self.metrics, self.recorder = metrics, recorder
        self.candidate: Policy | None = None
        self.utility: dict[str, deque[float]] = {
            "active": deque(maxlen=window), "shadow": deque(maxlen=window)}
        self.scored = 0
        self._jobs: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=SHADOW_QUEUE)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def set_candidate(self, candidate: Policy | None) -> None:
        """Shadow ``candidate`` from the next slot on (None: stop shadowing); the
        utility windows start over."""
        with self._lock:
            previous, self.candidate = self.candidate, candidate
            for samples in self.utility.values():
                samples.clear()
        if candidate is not None and self._thread is None:
            self._thread = threading.Thread(target=self._work, name="shadow", daemon=True)
            self._thread.start()
        if candidate is not None or previous is not None:
            log.info("shadow_set", candidate=getattr(candidate, "version", None))

    def on_decision(self, received: Received, decision: Decision) -> None:
        """Enqueue an interference slot answered with powers (nothing else on the slot)."""
        ind = received.indication
        if (self.candidate is None or ind is None or not isinstance(ind.state, InterferenceState)
                or np.ndim(ind.state.gains) != 2
                or not isinstance(decision.answer, PowerAllocation)):
            return
        job = ShadowJob(ind, self.objective_for(ind), decision.answer.power_w, decision.policy,
                        self.version_of())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.metrics.child(self.metrics.shadow_slots, "skipped").inc()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._score(job)
            except Exception as err:  # noqa: BLE001 - a failing candidate never stops the xApp
                self.metrics.child(self.metrics.shadow_slots, "failed").inc()
                log.warning("shadow_failed", error=f"{type(err).__name__}: {err}"[:200])

    def _score(self, job: ShadowJob) -> None:
        """The candidate's decision on the job's CSI and both utilities, exported."""
        with self._lock:
            candidate = self.candidate
        if candidate is None:
            return
        state = job.indication.state
        assert isinstance(state, InterferenceState)
        answer = candidate.decide(state, job.objective)
        assert isinstance(answer, PowerAllocation)
        shadow_power = np.minimum(np.maximum(answer.power_w, 0.0), state.pmax_per_link)
        scores = {"active": slot_utility(state, job.active_power, job.objective),
                  "shadow": slot_utility(state, shadow_power, job.objective)}
        with self._lock:
            for role, value in scores.items():
                self.utility[role].append(value)
                self.metrics.child(self.metrics.shadow_utility, role).set(
                    float(np.mean(self.utility[role])))
            self.scored += 1
        self.metrics.child(self.metrics.shadow_slots, "scored").inc()
        if self.recorder is not None:
            h = job.indication.header
            record = {"node": h.node_id, "seq": h.sequence_number, "slot": h.slot,
                      "active_policy": job.active_policy, "active_version": job.active_version,
                      "shadow_version": candidate.version,
                      "active_utility": scores["active"], "shadow_utility": scores["shadow"]}
            self.recorder.record(RecordKind.SHADOW, json.dumps(record).encode())

    def means(self) -> dict[str, float | None]:
        """Mean utility per slot of each role over the window (None before any slot)."""
        with self._lock:
            return {role: (float(np.mean(v)) if v else None) for role, v in self.utility.items()}

    def close(self) -> None:
        """Stop the worker (the slot it is scoring finishes; queued ones are dropped)."""
        if self._thread is None:
            return
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        self._thread.join(timeout=5.0)


def read_shadow(path: str | Path) -> list[dict[str, Any]]:
    """The SHADOW records of a trace, in order (JSON objects, see the module)."""
    return [json.loads(rec.payload) for rec in iter_records(path)
            if rec.kind == RecordKind.SHADOW]
