"""Cooperative cancellation of long numerical procedures: a stop flag and a deadline.

Python cannot kill a thread, so a procedure that may run long on a worker
(pc-wmmse at B = 100, K = 400 ran for a minute) takes a :class:`StopToken` and
calls :meth:`StopToken.check` between its iterations; the caller frees the
worker by cancelling the token, or by the token's own deadline. The
procedure then raises :class:`Cancelled` within one iteration.
"""

from __future__ import annotations

import threading
import time

from rrm.core.errors import RrmError


class Cancelled(RrmError):
    """A procedure stopped by its caller (stop flag) or by its deadline."""


class StopToken:
    """A stop flag and an optional deadline (``time.monotonic`` seconds), thread-safe."""

    def __init__(self, deadline_s: float | None = None) -> None:
        self.deadline_s = deadline_s
        self._event = threading.Event()

    @classmethod
    def within(cls, seconds: float) -> StopToken:
        """A token whose deadline is ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    def cancel(self) -> None:
        """Ask the procedure holding this token to stop at its next check."""
        self._event.set()

    @property
    def stopped(self) -> bool:
        """True once cancelled or past the deadline."""
        return self._event.is_set() or (
            self.deadline_s is not None and time.monotonic() >= self.deadline_s)

    def check(self, where: str) -> None:
        """Raise :class:`Cancelled` (naming ``where``) once stopped."""
        if self._event.is_set():
            raise Cancelled(f"{where} cancelled")
        if self.deadline_s is not None and time.monotonic() >= self.deadline_s:
            raise Cancelled(f"{where} stopped at its deadline")
