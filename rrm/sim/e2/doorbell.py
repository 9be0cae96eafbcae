"""A doorbell: any thread rings it, the ZeroMQ server thread's poller wakes on it.

ZeroMQ sockets belong to one thread, so the thread that queues an indication
(the slot clock) cannot publish it; it rings instead. The bell is a
non-blocking pipe whose read end a ``zmq.Poller`` watches beside the
sockets: the server sleeps until a request, a listener change or a queued
indication arrives, rather than waking every millisecond to look. A ring
while the pipe is full is already heard, so ringing never blocks.
"""

from __future__ import annotations

import os
import threading


class Doorbell:
    """A self-pipe: :meth:`ring` from any thread, :meth:`clear` from the waiting one."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self.closed = False
        self._lock = threading.Lock()  # a ring never writes to a descriptor closed (and reused)

    def fileno(self) -> int:
        """The descriptor to poll for reading."""
        return self._read_fd

    def ring(self) -> None:
        """Wake the waiting thread (thread-safe; a no-op once closed or already rung)."""
        with self._lock:
            if self.closed:
                return
            try:
                os.write(self._write_fd, b"\0")
            except BlockingIOError:  # the pipe is full: already rung
                pass

    def clear(self) -> None:
        """Read every pending ring."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:  # nothing left
            pass

    def close(self) -> None:
        """Close both ends."""
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self._read_fd)
                os.close(self._write_fd)
