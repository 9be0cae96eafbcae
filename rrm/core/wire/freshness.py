"""A bounded queue that keeps the freshest items: CSI that waited too long is worthless."""

from __future__ import annotations

import queue
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Thread-safe FIFO of at most ``capacity`` items; a put on a full queue evicts the oldest.

    Attributes:
        dropped: items evicted so far.
    """

    def __init__(self, capacity: int) -> None:
        self._q: queue.Queue[T] = queue.Queue(maxsize=capacity)
        self.dropped = 0

    def put(self, item: T) -> None:
        """Append ``item``, evicting the oldest item when full."""
        while True:
            try:
                self._q.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._q.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, timeout_s: float) -> T | None:
        """The oldest item, or None after ``timeout_s`` (0: do not wait)."""
        try:
            return self._q.get(timeout=timeout_s) if timeout_s > 0 else self._q.get_nowait()
        except queue.Empty:
            return None
