"""A subscription's indication queue, and one slot's indication shared by every queue.

The slot clock encodes a node's indication once per slot and queues the same
:class:`SharedIndication` in every subscription that covers the node. What a
subscriber receives differs only in the header's channel id, so:

* :meth:`QueueFeed.get` hands a protobuf message: the shared one when the
  feed is its only reader, else a copy stamped with the feed's channel id;
* :meth:`QueueFeed.get_event` hands the serialized ``SubscriptionEvent`` a
  ZeroMQ node publishes: the shared indication is serialized once, by
  whichever feed asks first, and a feed's channel id is a few bytes appended
  to it. Protobuf merges a repeated embedded message field into the first
  (the encoding guide: "last one wins" for scalars, merge for messages), so
  ``event + stamp`` decodes to the event with ``indication.header.channel_id``
  set. A K = 400 slot (1.3 MB) read by 8 subscribers costs one
  serialization, not 8 copies and 8 serializations.

A feed can also wake its reader (:meth:`QueueFeed.on_ready`), so a server
need not poll it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.node_wire import varint

FEED_CAPACITY = 64  # indications buffered per subscription before the oldest is dropped
FEED_MAX_BYTES = 8 << 20  # 8 MiB per subscription: a few K = 400 slots, fresh CSI only
STAMP_BYTES = 24  # a reader's channel id as counted in its queued bytes (16 hex: 22 bytes)
INDICATION_TAG = b"\x1a"  # SubscriptionEvent.indication: field 3, length-delimited


class SharedIndication:
    """One slot's encoded indication, queued in every feed that covers its node.

    Built from the message or from its serialized bytes (the slot clock writes
    those directly: :class:`rrm.core.wire.node_wire.IndicationWriter`); the
    message is then parsed from them only when a reader asks for it (an
    in-process reader), never for a server that sends bytes.

    Attributes:
        size: its serialized size, bytes.
    """

    __slots__ = ("_body", "_event", "_ind", "_lock", "size")

    def __init__(self, ind: pb.Indication | bytes) -> None:
        self._ind: pb.Indication | None = None
        if isinstance(ind, bytes):
            self._body: bytes | None = ind
        else:
            self._ind = ind
            # serialized once here: upb's ByteSize() serializes anyway, and the bytes are
            # what a server sends (event_bytes), so the size costs nothing extra
            self._body = ind.SerializeToString()
        self.size = len(self._body)
        self._event: bytes | None = None
        self._lock = threading.Lock()

    @property
    def ind(self) -> pb.Indication:
        """The indication (never changed once shared; parsed on first use when built
        from bytes)."""
        with self._lock:
            if self._ind is None:
                self._ind = pb.Indication.FromString(self._serialized())
            return self._ind

    def _serialized(self) -> bytes:
        """The indication's bytes (caller holds the lock): kept, or cut from the event."""
        if self._body is not None:
            return self._body
        assert self._event is not None  # one of the two is always held
        return self._event[len(self._event) - self.size:]

    def body(self) -> bytes:
        """The indication serialized (the bytes computed when it was queued)."""
        with self._lock:
            return self._serialized()

    def event_bytes(self) -> bytes:
        """``SubscriptionEvent(indication=ind)`` serialized; computed once, on first use."""
        with self._lock:
            if self._event is None:
                body = self._serialized()
                self._event = INDICATION_TAG + varint(len(body)) + body
                self._body = None  # the event holds it now
            return self._event


def channel_stamp(channel_id: str) -> bytes:
    """The bytes that, appended to a serialized event, set its indication's channel id."""
    header = pb.Header(channel_id=channel_id)
    return pb.SubscriptionEvent(indication=pb.Indication(header=header)).SerializeToString()


class QueueFeed:
    """A subscription's bounded indication queue; drops the oldest when full.

    Bounded in messages (``capacity``) and in bytes (``max_bytes``; the newest
    indication is always kept, whatever its size). ``idle_s`` is how long the
    reader has not asked for an indication; a closed feed holds nothing.
    Queued indications are shared between feeds and stamped with this feed's
    channel id only when read, so a subscriber that never reads costs no copies.
    """

    def __init__(self, node_ids: frozenset[str], capacity: int = FEED_CAPACITY,
                 max_bytes: int = FEED_MAX_BYTES) -> None:
        self.node_ids = node_ids
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.dropped = 0  # indications evicted because the reader lagged
        self._q: deque[tuple[SharedIndication, int, str | None]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._last_read = time.monotonic()
        self._wake: Callable[[], None] | None = None
        self._stamp = ("", b"")  # (channel id, its stamp): one channel id per feed in practice

    @property
    def queued_bytes(self) -> int:
        """Serialized bytes waiting in the queue."""
        with self._cond:
            return self._bytes

    def on_ready(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (from the putting thread) after each queued indication and on close."""
        self._wake = wake

    def put(self, ind: pb.Indication | SharedIndication, channel_id: str | None = None,
            size: int | None = None) -> None:
        """Queue an indication (drop the oldest ones if the reader lags).

        ``channel_id``: stamp it with this when read (``ind`` is shared, never
        changed); None hands ``ind`` as it is. ``size``: bytes it counts for in
        this queue (default: its serialized size).
        """
        shared = ind if isinstance(ind, SharedIndication) else SharedIndication(ind)
        self.put_many([(shared, channel_id, shared.size if size is None else size)])

    def put_many(self, items: list[tuple[SharedIndication, str | None, int]]) -> None:
        """Queue several indications as :meth:`put` would one by one (``(indication,
        channel id, size)`` each), waking the reader once: a slot's indications reach
        a server in one wake-up, not one per node."""
        with self._cond:
            if self._closed:
                return
            for shared, channel_id, size in items:
                self._q.append((shared, size, channel_id))
                self._bytes += size
                while len(self._q) > 1 and (len(self._q) > self.capacity
                                            or self._bytes > self.max_bytes):
                    self._bytes -= self._q.popleft()[1]
                    self.dropped += 1
            self._cond.notify()
        if self._wake is not None:
            self._wake()

    def _pop(self, timeout_s: float) -> tuple[SharedIndication, str | None] | None:
        with self._cond:
            self._last_read = time.monotonic()
            if not self._q and not self._closed and timeout_s > 0:
                self._cond.wait(timeout_s)
            if self._closed or not self._q:
                return None
            shared, size, channel_id = self._q.popleft()
            self._bytes -= size
        return shared, channel_id

    def get(self, timeout_s: float) -> pb.Indication | None:
        """Next indication, or None after ``timeout_s`` or once closed."""
        if (item := self._pop(timeout_s)) is None:
            return None
        shared, channel_id = item
        if channel_id is None:
            return shared.ind
        mine = pb.Indication()
        mine.CopyFrom(shared.ind)
        mine.header.channel_id = channel_id
        return mine

    def get_wire(self, timeout_s: float) -> tuple[pb.Indication, bytes] | None:
        """Next indication (as :meth:`get`) with its serialized bytes, or None: what an
        in-process reader decodes, without serializing it again nor parsing it back."""
        if (item := self._pop(timeout_s)) is None:
            return None
        shared, channel_id = item
        if channel_id is None:
            return shared.ind, shared.body()
        mine = pb.Indication()
        mine.CopyFrom(shared.ind)
        mine.header.channel_id = channel_id
        return mine, mine.SerializeToString()

    def get_event(self, timeout_s: float) -> bytes | None:
        """Next indication as a serialized ``SubscriptionEvent`` (stamped), or None."""
        if (item := self._pop(timeout_s)) is None:
            return None
        shared, channel_id = item
        if channel_id is None:
            return shared.event_bytes()
        if self._stamp[0] != channel_id:
            self._stamp = (channel_id, channel_stamp(channel_id))
        return shared.event_bytes() + self._stamp[1]

    def idle_s(self, now: float) -> float:
        """Seconds since the reader last asked for an indication (``now``: monotonic s)."""
        with self._cond:
            return now - self._last_read

    @property
    def closed(self) -> bool:
        """True once closed by either side."""
        return self._closed

    def close(self) -> None:
        """Stop delivering and free the queue."""
        with self._cond:
            self._closed = True
            self._q.clear()
            self._bytes = 0
            self._cond.notify_all()
        if self._wake is not None:
            self._wake()
