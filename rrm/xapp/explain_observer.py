"""The latest explanation per node, served on the xApp's HTTP port (``/ric/v1/explain``).

:class:`ExplainObserver` keeps, on the slot's path, only a reference to each
node's latest interference decision (one dict assignment); the explanation
(:func:`rrm.xapp.explain.explain`, WMMSE on the same CSI included) is
computed on the HTTP thread when asked for, cached per (node, sequence
number), and cut to ``MAX_BODY_BYTES`` by dropping links from the end
(``truncated`` says how many were left out). A node's explanation is computed
at most once per ``min_interval_s`` (default 1 s): a client polling faster gets
the cached one (its ``slot`` says which decision it explains), so the HTTP
thread cannot take the CPU the slot loop needs (measured: polled every 20 ms
without this bound, the loop's p99 went 10 -> 33 ms on 2 cores,
bench/results/explain_w3.md).

Paths: ``/ric/v1/explain`` lists the nodes with an explanation;
``/ric/v1/explain/<node>`` is that node's latest one (404 when none).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire.messages import IndicationMsg
from rrm.xapp.decision import Decider, Decision
from rrm.xapp.explain import DecidedSlot, explain, wmmse_powers
from rrm.xapp.observer import LoopObserver
from rrm.xapp.transport.base import Received

EXPLAIN_PATH = "/ric/v1/explain"
MAX_NODES = 64  # nodes whose latest decision is kept (least recently decided forgotten)
MAX_BODY_BYTES = 64 * 1024


class ExplainObserver(LoopObserver):
    """Keeps each node's latest interference decision; explains it on request.

    Args:
        decider: the xApp's decider (objective per indication, guard thresholds).
        deadline_fraction: share of the indication's deadline the policy had.
    """

    def __init__(self, decider: Decider, deadline_fraction: float = 0.8,
                 min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.decider = decider
        self.deadline_fraction = deadline_fraction
        self.min_interval_s, self._clock = min_interval_s, clock
        self._latest: OrderedDict[str, tuple[IndicationMsg, Decision]] = OrderedDict()
        self._cache: dict[str, tuple[int, float, bytes]] = {}  # seq, computed at, body
        self._lock = threading.Lock()

    def on_decision(self, received: Received, decision: Decision) -> None:
        """Keep the decision (no computation: this runs inside the slot)."""
        ind = received.indication
        if ind is None or not isinstance(decision.answer, PowerAllocation):
            return
        node = ind.header.node_id
        with self._lock:
            self._latest[node] = (ind, decision)
            self._latest.move_to_end(node)
            if len(self._latest) > MAX_NODES:
                self._latest.popitem(last=False)

    def nodes(self) -> list[str]:
        """Nodes with a kept decision."""
        with self._lock:
            return list(self._latest)

    def body(self, node: str) -> bytes | None:
        """The JSON explanation of ``node``'s latest decision (None when there is none)."""
        with self._lock:
            kept = self._latest.get(node)
        if kept is None:
            return None
        ind, decision = kept
        seq = ind.header.sequence_number
        cached, now = self._cache.get(node), self._clock()
        if cached is not None and (cached[0] == seq or now - cached[1] < self.min_interval_s):
            return cached[2]
        body = bounded_json(self._explain(ind, decision))
        self._cache[node] = (seq, now, body)
        return body

    def _explain(self, ind: IndicationMsg, decision: Decision) -> dict[str, Any]:
        state = ind.state
        assert isinstance(decision.answer, PowerAllocation)
        if not isinstance(state, InterferenceState) or np.ndim(state.gains) != 2:
            return {"node": ind.header.node_id, "slot": ind.header.slot,
                    "error": "explanations cover interference slots of one snapshot"}
        h = ind.header
        budget = ((h.deadline_ns - h.timestamp_ns) * self.deadline_fraction / 1e9
                  if h.deadline_ns > 0 else None)
        objective = self.decider.objective_for(ind)
        d = DecidedSlot(h.node_id, h.slot, state, objective,
                        np.asarray(decision.answer.power_w, dtype=np.float64), decision.policy,
                        decision.fallback_reason,
                        decision.policy_s + decision.guards_s + decision.fallback_s, budget)
        return explain(d, wmmse_powers(state, objective), self.decider.guards)

    def route(self, path: str) -> tuple[int, bytes]:
        """HTTP answer for ``path`` under :data:`EXPLAIN_PATH`: (status, JSON body)."""
        rest = path[len(EXPLAIN_PATH):].strip("/")
        if not rest:
            return 200, json.dumps({"nodes": self.nodes()}).encode()
        body = self.body(rest)
        if body is None:
            return 404, json.dumps({"error": f"no explanation for node {rest[:64]!r}"}).encode()
        return 200, body


def bounded_json(explanation: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """``explanation`` as JSON of at most ``limit`` bytes, dropping links from the end."""
    body = json.dumps(explanation).encode()
    links = list(explanation.get("links", []))
    keep = len(links)
    while len(body) > limit and keep > 0:
        keep = keep * max(limit, 1) // len(body) if keep > 1 else 0
        body = json.dumps({**explanation, "links": links[:keep],
                           "truncated": {"links_left_out": len(links) - keep}}).encode()
    return body
