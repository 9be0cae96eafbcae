"""SIGTERM stops the processes gracefully and soon: what a container runtime sends
before it kills (podman/docker stop: 10 s; Kubernetes: terminationGracePeriodSeconds).

Real processes on loopback: `rrm xapp run` and `rrm sim serve`. The xApp must close
its stream, flush its trace and exit 0 within STOP_S, in whatever state it is
(serving, or reconnecting to a node that went away); so must the node.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rrm.core.trace import read_trace
from tests.xapp.test_faults_processes import free_ports, start_node, start_xapp, wait_records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
STOP_S = 5.0  # half a container runtime's default grace period


def terminate(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """Send SIGTERM; (seconds until exit, stdout). Killed and failed after 3 x STOP_S."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=3 * STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"no exit within {3 * STOP_S} s of SIGTERM") from None
    elapsed = time.monotonic() - t0
    print(f"\n{' '.join(proc.args[3:5])}: exit {proc.returncode} {elapsed:.2f} s after SIGTERM")
    return elapsed, out


@pytest.mark.parametrize(("transport", "policy"), [("grpc", "wmmse"), ("zmq", "wmmse"),
                                                   ("grpc", "gfm")])
def test_sigterm_stops_a_serving_xapp_with_its_trace_flushed(tmp_path: Path, transport: str,
                                                             policy: str) -> None:
    """gfm: torch loaded, whose objects the interpreter's final collection walked for
    ~7 s on the loaded CPU (a container's stop took 6-8 s of its 10 s grace)."""
    node, address = start_node(transport, free_ports(2), seed=1)
    trace = tmp_path / "t.rrmtrace"
    xapp = start_xapp(transport, address, trace, "--policy", policy)
    try:
        wait_records(trace, 20)
        elapsed, out = terminate(xapp)
    finally:
        if xapp.poll() is None:
            xapp.kill()
        terminate(node)
    err = trace.with_suffix(".log").read_text()
    assert xapp.returncode == 0 and elapsed < STOP_S, (elapsed, err[-2000:])
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["slots"] > 0  # the summary is printed on the way out
    assert read_trace(trace).torn_tail_bytes == 0


def test_sigterm_stops_an_xapp_that_is_reconnecting(tmp_path: Path) -> None:
    port = free_ports(1)[0]  # nobody serves here: the xApp backs off and retries
    trace = tmp_path / "t.rrmtrace"
    xapp = start_xapp("grpc", f"127.0.0.1:{port}", trace)
    try:
        deadline = time.monotonic() + 60
        while '"e2_connection_lost"' not in trace.with_suffix(".log").read_text():
            assert time.monotonic() < deadline and xapp.poll() is None
            time.sleep(0.1)
        elapsed, _ = terminate(xapp)
    finally:
        if xapp.poll() is None:
            xapp.kill()
    assert xapp.returncode == 0 and elapsed < STOP_S, elapsed


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_sigterm_stops_a_node_with_a_subscribed_xapp(tmp_path: Path, transport: str) -> None:
    node, address = start_node(transport, free_ports(2), seed=1)
    trace = tmp_path / "t.rrmtrace"
    xapp = start_xapp(transport, address, trace)
    try:
        wait_records(trace, 20)
        elapsed, out = terminate(node)
    finally:
        if node.poll() is None:
            node.kill()
        terminate(xapp)
    assert node.returncode == 0 and elapsed < STOP_S, elapsed
    assert json.loads(out.strip().splitlines()[-1])["event"] == "stopped"
