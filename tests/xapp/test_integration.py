"""Simulator and xApp as separate processes on loopback, over each transport."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.trace import RecordKind, read_trace
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_ack, decode_control, decode_indication, parse

RRM = [sys.executable, "-m", "rrm"]
pytestmark = pytest.mark.slow


_STARTED: list[subprocess.Popen] = []  # nodes a test started: killed after it, even on failure


@pytest.fixture(autouse=True)
def _kill_leftover_nodes():
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def start_sim(transport, *extra):
    cmd = [*RRM, "sim", "serve", "--transport", transport, "--port", "0", "--pub-port", "0",
           "--ctl-port", "0", "--k", "10", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _STARTED.append(proc)
    info = json.loads(proc.stdout.readline())
    return proc, info["address"]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return json.loads(out.strip().splitlines()[-1])


def run_xapp(transport, address, slots, record, *extra):
    cmd = [*RRM, "xapp", "run", "--transport", transport, "--e2-address", address,
           "--slots", str(slots), "--record", str(record), "--health-port", "0",
           "--log-level", "error", "--json", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def triples(path):
    recs = read_trace(path).records
    for i in range(0, len(recs) - 2, 3):
        kinds = (recs[i].kind, recs[i + 1].kind, recs[i + 2].kind)
        assert kinds == (RecordKind.INDICATION, RecordKind.CONTROL, RecordKind.ACK)
        yield (decode_indication(parse(pb.Indication, recs[i].payload)),
               decode_control(parse(pb.ControlRequest, recs[i + 1].payload)),
               decode_ack(parse(pb.ControlAck, recs[i + 2].payload)))


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_hundreds_of_slots_one_answer_each_and_utility_matches_physics(tmp_path, transport):
    sim, address = start_sim(transport, "--slot-ms", "20")
    trace = tmp_path / "run.rrmtrace"
    summary = run_xapp(transport, address, 300, trace)
    counters = stop(sim)["counters"]["node-0"]
    assert summary["slots"] == 300 and summary["controls"] + summary["refusals"] == 300
    answered = counters.get("accepted", 0) + counters.get("refusals", 0)
    rejected = sum(counters.get(c, 0) for c in ("duplicate", "stale", "invalid_message"))
    assert rejected == 0 and answered + counters.get("timer_expired", 0) == 300
    objective = get_objective("sum")
    seen = set()
    for ind, ctl, ack in triples(trace):
        assert ind.header.sequence_number not in seen  # never answered twice
        seen.add(ind.header.sequence_number)
        assert ctl.header.sequence_number == ind.header.sequence_number
        if ack.realised:
            rates = physics.rates(ind.state.gains, ctl.decision.power_w, ind.state.noise_w)
            assert ack.utility == pytest.approx(float(objective.utility(rates)), rel=1e-12)
    assert len(seen) == 300


def test_faulty_policy_falls_back_and_the_loop_continues(tmp_path):
    sim, address = start_sim("grpc", "--slot-ms", "500", "--lockstep")
    summary = run_xapp("grpc", address, 60, tmp_path / "t.rrmtrace", "--policy", "oracle")
    stop(sim)
    # the oracle refuses K=10 (it only searches K <= 4): every slot is a policy_error
    assert summary["fallbacks"] == {"policy_error": 60} and summary["controls"] == 60


def test_killing_the_xapp_mid_run_loses_no_recorded_decision(tmp_path):
    sim, address = start_sim("grpc", "--slot-ms", "20")
    trace = tmp_path / "run.rrmtrace"
    cmd = [*RRM, "xapp", "run", "--e2-address", address, "--record", str(trace),
           "--health-port", "0", "--log-level", "error"]
    victim = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while not (trace.exists() and trace.stat().st_size > 4096
               and len(read_trace(trace).records) >= 30):
        assert time.monotonic() < deadline, "the xApp recorded nothing within 60 s"
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    before = read_trace(trace)
    assert len(before.records) >= 15
    summary = run_xapp("grpc", address, 50, trace)  # restart, appending to the same trace
    result = stop(sim)
    after = read_trace(trace)
    assert after.torn_tail_bytes == 0
    full_before = len(before.records) - len(before.records) % 3
    assert [r.payload for r in after.records[:full_before]] == \
        [r.payload for r in before.records[:full_before]]
    assert summary["slots"] == 50 and result["slots"] > summary["slots"]  # node kept serving
    assert result["counters"]["node-0"].get("defaults", 0) > 0  # default applied while down


def test_replay_reproduces_decisions_bit_for_bit(tmp_path):
    # lockstep with long deadlines: no decision depends on timing (no deadline fallback)
    sim, address = start_sim("grpc", "--slot-ms", "500", "--lockstep")
    first = tmp_path / "first.rrmtrace"
    run_xapp("grpc", address, 80, first)
    stop(sim)
    replay = subprocess.Popen([*RRM, "trace", "replay", str(first), "--port", "0",
                               "--slot-ms", "500", "--lockstep"], stdout=subprocess.PIPE,
                              text=True)
    _STARTED.append(replay)
    address = json.loads(replay.stdout.readline())["address"]
    second = tmp_path / "second.rrmtrace"
    run_xapp("grpc", address, 80, second)
    stop(replay)
    compare = subprocess.run([*RRM, "trace", "compare", str(first), str(second)],
                             capture_output=True, text=True, timeout=60)
    result = json.loads(compare.stdout.strip().splitlines()[-1])
    assert result["all_identical"], result
    a = [np.asarray(c.decision.power_w) for _, c, _ in triples(first)]
    b = [np.asarray(c.decision.power_w) for _, c, _ in triples(second)]
    assert len(a) == len(b) == 80
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))
