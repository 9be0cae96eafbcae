"""Faults in one process: a broken checkpoint, a full disk, a policy that raises or hangs.

Process-level faults (node killed and restarted, xApp SIGKILLed) are in
tests/xapp/test_faults_processes.py.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from rrm.core.trace import RecordKind, TraceWriter, read_trace
from rrm.models.checkpoint import METADATA, WEIGHTS
from rrm.xapp.app import XApp
from rrm.xapp.config import load_config
from rrm.xapp.recorder import Recorder
from tests.xapp.test_closed_loop_inproc import FaultyPolicy, run_loop

SHIPPED = Path(__file__).resolve().parents[2] / "rrm" / "models" / "checkpoints" / "gfm-small-sum"


def broken_copy(tmp_path: Path, fault: str) -> Path:
    """The shipped GFM checkpoint copied into tmp_path, then damaged as ``fault`` says."""
    d = tmp_path / f"ckpt-{fault}"
    shutil.copytree(SHIPPED, d)
    weights = d / WEIGHTS
    if fault == "missing":
        shutil.rmtree(d)
    elif fault == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif fault == "tampered":
        data = bytearray(weights.read_bytes())
        data[-100] ^= 0x01  # one bit of one weight
        weights.write_bytes(bytes(data))
    elif fault == "metadata_swapped":
        meta = json.loads((d / METADATA).read_text())
        meta["sha256"] = "0" * 64
        (d / METADATA).write_text(json.dumps(meta))
    return d


def start(checkpoint: Path) -> XApp:
    return XApp(load_config(environ={}, flags={"policy": "gfm", "checkpoint": str(checkpoint),
                                                "health_port": 0}))


def test_an_intact_checkpoint_loads_the_learned_policy(tmp_path):
    app = start(broken_copy(tmp_path, "intact"))
    try:
        assert app.policy.name == "gfm" and app.health.fallback_only_reason == ""
        assert app.metrics.registry.get_sample_value(
            "rrm_xapp_policy_loaded", {"policy": "gfm"}) == 1
    finally:
        app.decider.close()


@pytest.mark.parametrize("fault, message", [
    ("missing", "has no"), ("truncated", "sha256 mismatch"), ("tampered", "sha256 mismatch"),
    ("metadata_swapped", "sha256 mismatch"),
])
def test_a_broken_checkpoint_starts_wmmse_only_and_says_so(tmp_path, fault, message):
    with capture_logs() as logs:
        app = start(broken_copy(tmp_path, fault))
    try:
        ready, facts = app.health.ready()
        assert app.policy.name == "wmmse" and app.decider.policy.name == "wmmse"
        assert message in facts["fallback_only_reason"]
        assert "\n" not in facts["fallback_only_reason"]
        get = app.metrics.registry.get_sample_value
        assert get("rrm_xapp_policy_loaded", {"policy": "gfm"}) == 0
        assert get("rrm_xapp_fallback_only", {"reason": "checkpoint_error"}) == 1
        (event,) = [e for e in logs if e["event"] == "policy_load_failed"]
        assert event["log_level"] == "error" and event["mode"] == "fallback_only"
    finally:
        app.decider.close()


class FullDiskWriter(TraceWriter):
    """A trace writer whose disk fills up after ``room`` records."""

    room = 12

    def append(self, kind: RecordKind, payload: bytes) -> None:
        if self.records_written >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().append(kind, payload)


def test_a_full_disk_stops_recording_loudly_and_the_loop_continues(tmp_path, monkeypatch):
    import rrm.xapp.recorder as recorder_module
    from rrm.xapp.health import HealthState

    monkeypatch.setattr(recorder_module, "TraceWriter", FullDiskWriter)
    trace = tmp_path / "t.rrmtrace"
    health = HealthState()
    made: list[Recorder] = []

    def recorder(path, meta, metrics):  # noqa: ANN001, ANN202
        made.append(Recorder(path, meta, metrics, health=health))
        return made[-1]

    monkeypatch.setattr("tests.xapp.test_closed_loop_inproc.Recorder", recorder)
    with capture_logs() as logs:
        node, loop, controls = run_loop(FaultyPolicy("fine"), slots=30, k=6, record=trace)
    assert loop.stats.slots == 30 and len(controls) == 30  # every slot still answered
    stopped = [e for e in logs if e["event"] == "recording_stopped"]
    assert len(stopped) == 1 and stopped[0]["log_level"] == "error"
    assert "No space left" in stopped[0]["error"] and stopped[0]["records_written"] == 12
    assert loop.metrics.registry.get_sample_value("rrm_xapp_recording_errors_total") == 1
    assert "No space left" in health.recording_error and made[0].writer is None
    contents = read_trace(trace)
    assert len(contents.records) == 12 and contents.torn_tail_bytes == 0


@pytest.mark.parametrize("fault, guard, period", [("raises", "policy_error", 0.5),
                                                  ("slow", "deadline", 0.2)])
def test_a_policy_that_raises_or_hangs_is_replaced_by_wmmse_every_slot(fault, guard, period):
    node, loop, controls = run_loop(FaultyPolicy(fault), slots=8, k=6, period=period)
    assert loop.stats.slots == 8 and loop.stats.controls == 8
    assert set(loop.stats.fallbacks) == {guard} and sum(loop.stats.fallbacks.values()) == 8
    assert all(c.policy == "wmmse" and c.fallback_reason == guard for c in controls)
