"""Prometheus metrics of the xApp (one registry per xApp instance)."""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Latency buckets in seconds: 50 us .. 1 s, dense around the 1-10 ms slot budgets.
_LATENCY_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 7.5e-3, 1e-2, 2e-2,
                    5e-2, 0.1, 0.25, 1.0)
MAX_NODE_LABELS = 256  # distinct node label values; the rest are counted as "other"
MAX_LABEL_CHARS = 64
# "total" = decode + policy (with its share of a batched pass) + guards + fallback +
# encode + send + account (metrics and observers); transport_in is before the loop
STAGES = ("transport_in", "decode", "policy", "guards", "fallback", "encode", "send", "account",
          "total")


class StageSeconds:
    """The ``rrm_xapp_stage_seconds{stage}`` histogram, observed without locks.

    The slot loop observes nine stages per decision; a ``prometheus_client``
    histogram takes two locks and scans its buckets in Python for each. Here an
    observation is a bisect and two additions on plain lists written by one
    thread, the slot loop's (observing from several threads at once could lose
    a count, never corrupt one). A scrape copies each stage's counts (one
    step under the GIL) and exports the same samples a ``Histogram`` would:
    cumulative ``_bucket{le}``, ``_count``, ``_sum`` and ``_created``.

    Args:
        name / documentation: the metric's.
        buckets: upper bounds, s, ascending (``+Inf`` is added).
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = (*buckets, math.inf)
        self._labels = tuple(floatToGoString(b) for b in self._bounds)
        self._counts: dict[str, list[int]] = {}  # per stage: observations per bucket
        self._sums: dict[str, float] = {}
        self._created: dict[str, float] = {}

    def observe(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` under ``stage`` (a name from code: bounded label values)."""
        counts = self._counts.get(stage)
        if counts is None:
            self._created[stage] = time.time()
            self._sums[stage] = 0.0
            counts = self._counts[stage] = [0] * len(self._bounds)
        counts[bisect_left(self._bounds, seconds)] += 1  # first bound >= seconds: le
        self._sums[stage] += seconds

    _labelnames = ("stage",)  # as a labelled prometheus metric names them

    def describe(self) -> Iterator[Metric]:
        """The family without samples (the registry checks names against it on register)."""
        yield HistogramMetricFamily(self.name, self.documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        """The histogram family (called by the registry at each scrape)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self._labelnames)
        for stage, counts in list(self._counts.items()):
            cumulative, total = [], 0
            for label, count in zip(self._labels, list(counts), strict=True):
                total += count
                cumulative.append((label, float(total)))
            family.add_metric([stage], cumulative, self._sums[stage])
            family.samples.append(Sample(f"{self.name}_created", {"stage": stage},
                                         self._created[stage]))
        yield family


@dataclass
class XAppMetrics:
    """The xApp's metric families; names are prefixed ``rrm_xapp_``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def node_label(self, node_id: str) -> str:
        """``node_id`` as a label value, with bounded cardinality.

        Node ids come off the wire: a hostile node sending a fresh id per
        message must not grow the registry without bound. The first
        ``MAX_NODE_LABELS`` distinct ids (cut to ``MAX_LABEL_CHARS``) keep
        their own series; later ones share ``other``.
        """
        label = node_id[:MAX_LABEL_CHARS]
        if label in self._node_labels:  # the usual case: a known node, no lock (set lookup)
            return label
        with self._label_lock:
            if label in self._node_labels:
                return label
            if len(self._node_labels) < MAX_NODE_LABELS:
                self._node_labels.add(label)
                return label
        return "other"

    def child(self, family: Any, *values: str) -> Any:
        """``family.labels(*values)``, bound once and reused (the slot loop's hot path:
        a label lookup validates and locks; a dict hit does not). Bounded: node labels
        are (``node_label``), the other label values are names from code."""
        key = (id(family), values)
        handle = self._children.get(key)
        if handle is None:
            handle = self._children[key] = family.labels(*values)
        return handle

    def __post_init__(self) -> None:
        self._node_labels: set[str] = set()
        self._label_lock = threading.Lock()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.indications = Counter("rrm_xapp_indications", "Indications received",
                                   ["node"], registry=r)
        self.controls = Counter("rrm_xapp_controls", "Control requests sent (decisions)",
                                ["node", "policy"], registry=r)
        self.refusals = Counter("rrm_xapp_refusals", "Indications answered with a refusal",
                                ["node", "cause"], registry=r)
        self.fallbacks = Counter("rrm_xapp_fallbacks", "Decisions replaced by the fallback",
                                 ["node", "guard"], registry=r)
        self.dropped = Counter("rrm_xapp_dropped", "Messages dropped without an answer",
                               ["reason"], registry=r)
        self.deadline_misses = Counter("rrm_xapp_deadline_misses",
                                       "Controls sent after the indication's deadline",
                                       ["node"], registry=r)
        self.acks = Counter("rrm_xapp_acks", "Control acknowledgements by outcome",
                            ["node", "outcome", "applied"], registry=r)
        self.stage_seconds = StageSeconds("rrm_xapp_stage_seconds", "Latency per slot-loop stage",
                                          _LATENCY_BUCKETS)
        r.register(self.stage_seconds)
        self.utility = Gauge("rrm_xapp_realised_utility", "Last realised utility reported by "
                             "the node", ["node"], registry=r)
        self.policy_loaded = Gauge("rrm_xapp_policy_loaded", "1 when the configured policy is "
                                   "loaded, 0 when running fallback-only", ["policy"], registry=r)
        self.fallback_only = Gauge("rrm_xapp_fallback_only", "1 while the configured policy "
                                   "could not be loaded and the fallback (WMMSE) decides "
                                   "alone", ["reason"], registry=r)
        self.subscribed = Gauge("rrm_xapp_subscribed", "1 while a subscription is open",
                                registry=r)
        self.reconnects = Counter("rrm_xapp_reconnects", "Subscriptions re-established",
                                  registry=r)
        self.shadow_utility = Gauge("rrm_xapp_shadow_utility", "Mean utility per slot over the "
                                    "shadow window on the same reported CSI: the active "
                                    "policy's decisions and the shadowed candidate's",
                                    ["role"], registry=r)
        self.shadow_slots = Counter("rrm_xapp_shadow_slots", "Slots given to the shadowed "
                                    "candidate by outcome (scored, skipped, failed)",
                                    ["outcome"], registry=r)
        self.promotions = Counter("rrm_xapp_promotions", "Checkpoint promotions by outcome "
                                  "(promoted, refused)", ["outcome"], registry=r)
        self.rollbacks = Counter("rrm_xapp_rollbacks", "Promotions rolled back automatically",
                                 registry=r)
        self.window_utility = Gauge("rrm_xapp_window_utility", "Mean realised utility per slot "
                                    "of the previous policy's last window (before) and the "
                                    "promoted one's first (after)", ["phase"], registry=r)
        self.recording_errors = Counter("rrm_xapp_recording_errors",
                                        "Trace writes that failed (recording stops)", registry=r)
