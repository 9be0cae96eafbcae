"""A bounded queue that keeps the freshest items: CSI that waited too long is worthless."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Thread-safe FIFO bounded by item count and by bytes; a put evicts the oldest.

    A put that would hold more than ``capacity`` items or more than
    ``max_bytes`` bytes (as the caller sizes each item) evicts the oldest
    items until it fits; the newest item is always kept, so one item larger
    than ``max_bytes`` is queued alone.

    Attributes:
        dropped: items evicted so far.
        nbytes: bytes held now.
    """

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = max(1, capacity)
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._cv = threading.Condition()
        self.dropped = 0
        self.nbytes = 0

    def put(self, item: T, nbytes: int = 0) -> None:
        """Append ``item`` (``nbytes`` bytes), evicting the oldest items while over a bound."""
        with self._cv:
            self._items.append((item, nbytes))
            self.nbytes += nbytes
            while len(self._items) > 1 and (
                    len(self._items) > self.capacity
                    or (self.max_bytes is not None and self.nbytes > self.max_bytes)):
                _, size = self._items.popleft()
                self.nbytes -= size
                self.dropped += 1
            self._cv.notify()

    def get(self, timeout_s: float) -> T | None:
        """The oldest item, or None after ``timeout_s`` (0: do not wait)."""
        with self._cv:
            if not self._items and timeout_s > 0:
                self._cv.wait_for(lambda: bool(self._items), timeout=timeout_s)
            if not self._items:
                return None
            item, size = self._items.popleft()
            self.nbytes -= size
            return item

    def clear(self) -> int:
        """Empty the queue; the number of items it held (not added to ``dropped``)."""
        with self._cv:
            held = len(self._items)
            self._items.clear()
            self.nbytes = 0
            return held

    def __len__(self) -> int:
        with self._cv:
            return len(self._items)
