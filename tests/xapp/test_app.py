"""The xApp process object: hot config reload, WMMSE-only mode, trace export."""

import json
import threading

import numpy as np

from rrm.core.trace_arrays import export_trace
from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.app import XApp, summary
from rrm.xapp.config import load_config


def served():
    sim = Simulator([build_node(NodeSpec(num_links=8), "n0", 2, 0.2)], 0.2, lockstep=True)
    server, port, health = create_grpc_server(sim)
    sim.start()
    return sim, server, health, f"127.0.0.1:{port}"


def test_config_file_changes_apply_without_restart(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"log_level": "info", "guards": {"utility_margin": 0.05}}))
    app = XApp(load_config(path, environ={}), config_path=str(path))
    path.write_text(json.dumps({"log_level": "debug", "objective": "pf",
                                "guards": {"utility_margin": 0.5, "max_links": 20}}))
    app.reload(path)
    assert app.cfg.log_level == "debug" and app.decider.objective_name == "pf"
    assert app.decider.guards.utility_margin == 0.5 and app.decider.guards.max_links == 20
    app.decider.close()


def test_unloadable_policy_runs_wmmse_only_and_says_so():
    app = XApp(load_config(environ={}, flags={"policy": "no-such-policy", "health_port": 0}))
    ready, facts = app.health.ready()
    assert app.policy.name == "wmmse" and "no-such-policy" in facts["fallback_only_reason"]
    assert app.metrics.registry.get_sample_value(
        "rrm_xapp_policy_loaded", {"policy": "no-such-policy"}) == 0
    assert facts["policy_loaded"] is False  # /ready agrees with the metric
    app.health.subscribed = True
    assert app.health.ready()[0]  # WMMSE-only still serves: ready once subscribed
    app.decider.close()


def test_run_records_a_trace_that_exports_to_arrays(tmp_path):
    sim, server, health, address = served()
    trace = tmp_path / "t.rrmtrace"
    cfg = load_config(environ={}, flags={"e2_address": address, "health_port": 0,
                                         "record_path": str(trace), "policy": "wmmse"})
    app = XApp(cfg, references=True)
    try:
        app.run(threading.Event(), max_slots=20)
    finally:
        sim.stop()
        stop_grpc_server(server, health, 0)
    s = summary(app)
    assert s["slots"] == 20 and s["utility"]["wmmse"] is not None
    assert s["utility"]["full_reuse"] <= s["utility"]["wmmse"]
    counts = export_trace(trace, tmp_path / "t.npz")
    assert counts == {"n0": 20}
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert z["n0/gains"].shape == (20, 8, 8) and z["n0/power_w"].shape == (20, 8)
        assert np.all(np.isfinite(z["n0/utility"]))


def test_xapp_reconnects_with_backoff_when_the_node_returns():
    sim, server, health, address = served()
    port = int(address.rsplit(":", 1)[1])
    cfg = load_config(environ={}, flags={"e2_address": address, "health_port": 0,
                                         "policy": "full-reuse", "reconnect_initial_s": 0.05,
                                         "reconnect_max_s": 0.2})
    app = XApp(cfg)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), kwargs={"serve_http": False})
    runner.start()
    try:
        _wait(lambda: app.stats.slots >= 10)
        sim.stop()
        stop_grpc_server(server, health, 0)  # the node goes away
        _wait(lambda: not app.health.subscribed)
        before = app.stats.slots
        sim2 = Simulator([build_node(NodeSpec(num_links=8), "n0", 5, 0.02)], 0.02,
                         lockstep=True)
        server2, _, health2 = create_grpc_server(sim2, f"127.0.0.1:{port}")
        sim2.start()
        try:
            _wait(lambda: app.stats.slots >= before + 10)  # and comes back
            assert app.health.subscribed
            assert app.metrics.registry.get_sample_value("rrm_xapp_reconnects_total") >= 1
        finally:
            stop.set()
            runner.join(timeout=10)
            sim2.stop()
            stop_grpc_server(server2, health2, 0)
    finally:
        stop.set()


def _wait(condition, timeout_s=15.0):
    import time
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def test_xapp_stays_alive_but_not_ready_while_it_backs_off_from_a_missing_node():
    import socket
    import time

    with socket.socket() as s:  # a port nobody serves
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = load_config(environ={}, flags={"e2_address": f"127.0.0.1:{port}", "health_port": 0,
                                         "policy": "full-reuse", "reconnect_initial_s": 0.5,
                                         "reconnect_max_s": 4.0})
    app = XApp(cfg)
    # above one connect attempt (5 s), below an attempt plus the backoffs around it
    app.health.stale_after_s = 6.5
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), kwargs={"serve_http": False})
    runner.start()
    try:
        verdicts = []
        end = time.monotonic() + 13.0  # attempt, 0.5 s, attempt, 1 s, attempt
        while time.monotonic() < end:
            verdicts.append((app.health.alive()[0], app.health.ready()[0]))
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert all(alive for alive, _ in verdicts)
    assert not any(ready for _, ready in verdicts)


def test_observers_are_only_what_was_asked_for(tmp_path):
    plain = XApp(load_config(environ={}, flags={"policy": "wmmse", "health_port": 0}))
    # the shadow (idle until shadow_checkpoint names a candidate, hot reloaded) and the
    # promotion's realised-utility window are always there
    always = [plain.shadow, plain.promotion]
    assert plain.observers == [plain.explainer, *always] and plain.references is None
    plain.decider.close()
    bare = XApp(load_config(environ={}, flags={"policy": "wmmse", "health_port": 0}),
                explanations=False)
    assert bare.observers == [bare.shadow, bare.promotion]
    bare.decider.close()
    trace = tmp_path / "t.rrmtrace"
    both = XApp(load_config(environ={}, flags={"policy": "wmmse", "health_port": 0,
                                               "record_path": str(trace)}), references=True)
    assert both.observers == [both.recorder, both.references, both.explainer, both.shadow,
                              both.promotion]
    both.recorder.close()
    both.decider.close()
