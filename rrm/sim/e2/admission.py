"""How many subscriptions a node holds at once: per peer and in total.

A subscription holds node resources for its lifetime (a gRPC worker thread,
a feed queue, a publishing slot), so a peer that opens many and never reads
them could starve everyone else, Control included. Both servers pass each
subscribe request through one :class:`SubscriptionGate` before the node sees
it; an excess request is refused with cause OVERLOAD and counted, and a
stream's slot is given back when it ends (client gone, feed closed, idle).

The peer is what the transport can tell apart: a gRPC peer address
(``ipv4:127.0.0.1:51234``, one connection) or a ZeroMQ routing identity.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from rrm.core.errors import ConfigError
from rrm.core.wire.messages import Cause, SubscriptionFailed


@dataclass(frozen=True)
class SubscriptionLimits:
    """Bounds on the subscriptions a node serves (a node has 1-8 xApps, each one stream).

    Attributes:
        max_total: open subscriptions over all peers.
        max_per_peer: open subscriptions of one peer (connection / identity).
        control_workers: gRPC worker threads reserved for Control and refusals,
            on top of one per allowed subscription.
    """

    max_total: int = 8
    max_per_peer: int = 2
    control_workers: int = 8

    def __post_init__(self) -> None:
        if min(self.max_total, self.max_per_peer, self.control_workers) < 1:
            raise ConfigError("subscription limits must be >= 1 (max_total, max_per_peer, "
                              f"control_workers), got {self}")


class SubscriptionGate:
    """Thread-safe admission of subscriptions under :class:`SubscriptionLimits`.

    Attributes:
        refused: refusals so far, by reason ('total' or 'peer').
    """

    def __init__(self, limits: SubscriptionLimits | None = None) -> None:
        self.limits = limits or SubscriptionLimits()
        self.refused: Counter[str] = Counter()
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Subscriptions currently admitted."""
        with self._lock:
            return sum(self._held.values())

    def acquire(self, peer: str) -> SubscriptionFailed | None:
        """Admit one subscription of ``peer`` (None) or say why not (OVERLOAD)."""
        with self._lock:
            if sum(self._held.values()) >= self.limits.max_total:
                self.refused["total"] += 1
                return SubscriptionFailed(Cause.OVERLOAD, "the node holds its maximum of "
                                          f"{self.limits.max_total} subscriptions")
            if self._held[peer] >= self.limits.max_per_peer:
                self.refused["peer"] += 1
                return SubscriptionFailed(Cause.OVERLOAD, "this peer holds its maximum of "
                                          f"{self.limits.max_per_peer} subscriptions")
            self._held[peer] += 1
            return None

    def release(self, peer: str) -> None:
        """Give back one subscription slot of ``peer``."""
        with self._lock:
            self._held[peer] -= 1
            if self._held[peer] <= 0:
                del self._held[peer]
