"""The simulator service: several nodes on a slot clock, behind the E2 contract.

:class:`Simulator` implements :class:`rrm.sim.e2.service.NodeService`. A clock
thread opens a slot on every node each period, publishes its indication to
every subscription that covers the node, and closes it at the deadline
(applying the node's default when no valid control arrived). With
``lockstep`` the next slot opens as soon as every node's slot has been
answered (bounded by the period): same behaviour, faster tests and demos.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import structlog

from rrm.core.errors import clip
from rrm.core.wire.messages import (
    AckMsg,
    Cause,
    ControlMsg,
    Outcome,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
    version_refusal,
)
from rrm.core.wire.node_wire import IndicationWriter
from rrm.sim.e2.service import Subscription
from rrm.sim.feed import STAMP_BYTES, QueueFeed, SharedIndication
from rrm.sim.node import SimNode

log = structlog.get_logger("rrm.sim")
__all__ = ["IDLE_TIMEOUT_S", "QueueFeed", "Simulator"]  # QueueFeed: rrm.sim.feed
IDLE_TIMEOUT_S = 30.0  # a subscription whose reader has not read for this long is closed, s


@dataclass
class _Channel:
    channel_id: str
    transaction_id: str
    feed: QueueFeed
    node_ids: frozenset[str] = field(default_factory=frozenset)


class Simulator:
    """Nodes + subscriptions + the slot clock.

    Args:
        nodes: the simulated E2 nodes (distinct node ids).
        slot_period_s: time between slots, s.
        lockstep: open the next slot as soon as every node answered.
        max_slots: stop after this many slots (None: run until stopped).
        wait_for_subscriber: start the clock only once a subscription exists
            (replays: no recorded slot is published to nobody).
        idle_timeout_s: close a subscription whose reader has not read for
            this long (an abandoned stream frees its channel and queue).

    Controls are authorised: a control must carry the channel id of an open
    subscription this node issued that covers its node; otherwise it is
    rejected with UNKNOWN_SUBSCRIPTION and counted on its node.
    """

    def __init__(self, nodes: list[SimNode], slot_period_s: float = 0.010,
                 lockstep: bool = False, max_slots: int | None = None,
                 wait_for_subscriber: bool = False,
                 idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.nodes = {n.cfg.node_id: n for n in nodes}
        if len(self.nodes) != len(nodes):
            raise ValueError("node ids must be distinct")
        self.slot_period_s = slot_period_s
        self.lockstep = lockstep
        self.max_slots = max_slots
        self.idle_timeout_s = idle_timeout_s
        self._subscribed = threading.Event()
        if not wait_for_subscriber:
            self._subscribed.set()
        self.finished = threading.Event()
        self.slots_run = 0
        self.malformed = 0
        self.unknown_node = 0  # controls naming no node of this simulator
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._pending: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writers = {node_id: IndicationWriter() for node_id in self.nodes}

    # -- NodeService -------------------------------------------------------
    def subscribe(self, request: SubscribeMsg) -> Subscription | SubscriptionFailed:
        """Open or resume a subscription (by transaction id)."""
        refusal = version_refusal(request.protocol_version)
        if refusal is not None:
            return refusal
        unknown = sorted(set(request.node_ids) - set(self.nodes))
        if unknown:
            return SubscriptionFailed(Cause.UNKNOWN_SUBSCRIPTION, f"unknown node ids: {unknown}")
        wanted = frozenset(request.node_ids or self.nodes)
        with self._lock:
            self._prune()
            old = next((c for c in self._channels.values()
                        if request.transaction_id and c.transaction_id == request.transaction_id),
                       None)
            if old is not None:
                old.feed.close()
            channel_id = old.channel_id if old else uuid.uuid4().hex[:16]
            chan = _Channel(channel_id, request.transaction_id, QueueFeed(wanted), wanted)
            self._channels[channel_id] = chan
            self._subscribed.set()
        ack = SubscribedMsg(channel_id, request.transaction_id,
                            tuple(self.nodes[n].info for n in sorted(wanted)), old is not None)
        log.info("subscription_opened", channel_id=channel_id, xapp=request.xapp_id,
                 nodes=sorted(wanted), resumed=old is not None)
        return Subscription(ack, chan.feed)

    def control(self, request: ControlMsg) -> AckMsg:
        """Authorise, route a control to its node; wake the clock in lockstep mode."""
        node = self.nodes.get(request.header.node_id)
        if node is None:
            with self._lock:
                self.unknown_node += 1
            return AckMsg(request.header, Outcome.REJECTED, Cause.UNKNOWN_SUBSCRIPTION,
                          clip(f"unknown node {request.header.node_id!r}"))
        unauthorised = self._unauthorised(request.header.channel_id, node.cfg.node_id)
        if unauthorised is not None:
            log.warning("control_unauthorised", node=node.cfg.node_id, detail=unauthorised)
            return node.reject(request, Cause.UNKNOWN_SUBSCRIPTION, unauthorised)
        ack = node.control(request)
        if ack.outcome != Outcome.REJECTED:
            with self._lock:
                self._pending.discard(node.cfg.node_id)
                if not self._pending:  # the clock waits for all of them: one wake-up per slot
                    self._answered.notify_all()
        return ack

    def malformed_control(self, detail: str) -> None:
        """Count an undecodable control."""
        with self._lock:
            self.malformed += 1
        log.warning("control_malformed", detail=clip(detail))

    @property
    def open_channels(self) -> int:
        """Subscriptions currently open (closed ones are forgotten)."""
        with self._lock:
            self._prune()
            return len(self._channels)

    def _unauthorised(self, channel_id: str, node_id: str) -> str | None:
        """Why a control on ``channel_id`` for ``node_id`` is not authorised, or None."""
        with self._lock:
            chan = self._channels.get(channel_id)
            if chan is None or chan.feed.closed:
                return (f"channel {clip(repr(channel_id), 40)} is no open subscription "
                        "of this node")
            if node_id not in chan.node_ids:
                return f"channel {channel_id!r} does not cover node {node_id!r}"
            return None

    def _prune(self) -> None:
        """Forget closed subscriptions; close idle ones (caller holds the lock)."""
        now = time.monotonic()
        for cid, chan in list(self._channels.items()):
            if not chan.feed.closed and chan.feed.idle_s(now) > self.idle_timeout_s:
                log.info("subscription_idle", channel_id=cid, timeout_s=self.idle_timeout_s)
                chan.feed.close()
            if chan.feed.closed:
                del self._channels[cid]

    # -- clock -------------------------------------------------------------
    def start(self) -> None:
        """Start the slot clock thread."""
        self._thread = threading.Thread(target=self._run, name="slot-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the clock and close every subscription."""
        self._stop.set()
        with self._lock:
            self._answered.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for c in self._channels.values():
                c.feed.close()

    def _run(self) -> None:
        while not self._subscribed.wait(0.1):  # a replay loses nothing before the xApp is there
            if self._stop.is_set():
                self.finished.set()
                return
        next_t = time.monotonic()
        try:
            while not self._stop.is_set() and not self._done():
                self._publish_slot()
                next_t += self.slot_period_s
                self._wait_slot_end(next_t)
                for node in self.nodes.values():
                    node.close_slot()
                self.slots_run += 1
                if time.monotonic() > next_t + self.slot_period_s:
                    next_t = time.monotonic()  # fell behind: do not burst to catch up
        finally:
            self.finished.set()
            log.info("simulation_finished", slots=self.slots_run)

    def _done(self) -> bool:
        """True after ``max_slots`` or when a replayed trace has run out."""
        if self.max_slots is not None and self.slots_run >= self.max_slots:
            return True
        return any(n.env.exhausted for n in self.nodes.values())

    def _publish_slot(self) -> None:
        """Open the slot on every node, then queue each indication for its readers.

        Every indication is serialized once, and each subscription gets the
        slot's indications in one batch (its server wakes once per slot, not
        once per node). With one reader (the usual case) the bytes carry its
        channel id; with several, one shared copy is stamped per reader when read.
        """
        with self._lock:
            self._prune()
            channels = list(self._channels.values())
            self._pending = set(self.nodes)
        queued: dict[str, list[tuple[SharedIndication, str | None, int]]] = {}
        for node_id, node in self.nodes.items():
            readers = [c for c in channels if node_id in c.node_ids]
            if not readers:  # the slot opens all the same; nobody reads its indication
                node.open_slot()
                continue
            own = readers[0].channel_id if len(readers) == 1 else None
            shared = SharedIndication(self._writers[node_id](node.open_slot(), own))
            if own is not None:  # the usual case: its only reader's stamp, no copy per read
                queued.setdefault(own, []).append((shared, None, shared.size))
                continue
            size = shared.size + STAMP_BYTES  # + the channel id each reader's copy carries
            for chan in readers:
                queued.setdefault(chan.channel_id, []).append((shared, chan.channel_id, size))
        for chan in channels:
            if chan.channel_id in queued:
                chan.feed.put_many(queued[chan.channel_id])

    def _wait_slot_end(self, deadline: float) -> None:
        with self._lock:
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or (self.lockstep and not self._pending):
                    return
                self._answered.wait(timeout=left)
