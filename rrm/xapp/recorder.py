"""Recording the slot loop into a trace file, loudly stopping on write errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import structlog

from rrm.core.trace import RecordKind, TraceWriter
from rrm.core.wire.messages import ControlMsg
from rrm.xapp.health import HealthState
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.observer import LoopObserver
from rrm.xapp.transport.base import Acked, Received

log = structlog.get_logger("rrm.xapp.recorder")


class Recorder(LoopObserver):
    """Appends indications, controls and acks to a trace, as the bytes that crossed the wire.

    As an observer of the slot loop it writes, once a slot's ack is in, the
    slot's indication, control and ack records (a slot whose control could not
    be sent leaves no record).

    A failed write (disk full, I/O error) stops recording: the error is
    logged once at error level (``recording_stopped``), counted in
    ``rrm_xapp_recording_errors``, shown in ``/ric/v1/health/ready`` as
    ``recording_error`` (readiness is kept: decisions still flow), and the
    loop carries on. Records written before the failure stay intact.
    """

    def __init__(self, path: str | Path, meta: dict[str, Any], metrics: XAppMetrics,
                 fsync: bool = False, health: HealthState | None = None) -> None:
        self.path = Path(path)
        self.metrics = metrics
        self.health = health
        self.writer: TraceWriter | None = TraceWriter(self.path, meta, fsync=fsync)
        self.failed = ""
        self._lock = threading.Lock()  # the shadow's worker appends SHADOW records too

    def on_ack(self, received: Received, control: ControlMsg, acked: Acked) -> None:
        """Record the slot: indication, control and ack bytes."""
        self.record(RecordKind.INDICATION, received.payload)
        self.record(RecordKind.CONTROL, acked.sent)
        self.record(RecordKind.ACK, acked.received)

    def record(self, kind: RecordKind, payload: bytes) -> None:
        """Append one record, unless recording has stopped (any thread)."""
        with self._lock:
            self._record(kind, payload)

    def _record(self, kind: RecordKind, payload: bytes) -> None:
        if self.writer is None:
            return
        try:
            self.writer.append(kind, payload)
        except OSError as err:
            self.failed = f"{type(err).__name__}: {err}"
            self.metrics.recording_errors.inc()
            if self.health is not None:
                self.health.recording_error = f"recording to {self.path} stopped: {self.failed}"
            log.error("recording_stopped", path=str(self.path), error=self.failed,
                      records_written=self.writer.records_written)
            self._close_quietly()

    def _close_quietly(self) -> None:
        writer, self.writer = self.writer, None
        try:
            if writer is not None:
                writer.close()
        except OSError:
            pass  # already reported; nothing more can be saved

    def close(self) -> None:
        """Flush and close the trace."""
        with self._lock:
            self._close_quietly()
