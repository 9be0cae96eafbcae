"""Prometheus metrics of the xApp (one registry per xApp instance)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets in seconds: 50 us .. 1 s, dense around the 1-10 ms slot budgets.
_LATENCY_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 7.5e-3, 1e-2, 2e-2,
                    5e-2, 0.1, 0.25, 1.0)
MAX_NODE_LABELS = 256  # distinct node label values; the rest are counted as "other"
MAX_LABEL_CHARS = 64
# "total" = decode + policy (with its share of a batched pass) + guards + fallback +
# encode + send + account (metrics and observers); transport_in is before the loop
STAGES = ("transport_in", "decode", "policy", "guards", "fallback", "encode", "send", "account",
          "total")


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
        self.stage_seconds = Histogram("rrm_xapp_stage_seconds", "Latency per slot-loop stage",
                                       ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
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
