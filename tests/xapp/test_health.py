"""Health endpoints mean something: alive = loop turning, ready = subscribed + policy."""

import json
import urllib.error
import urllib.request

import pytest

from rrm.xapp.health import ALIVE_PATH, READY_PATH, HealthState, serve_health
from rrm.xapp.metrics import XAppMetrics


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def served():
    health, metrics = HealthState(stale_after_s=0.5), XAppMetrics()
    server, port = serve_health(health, metrics.registry, host="127.0.0.1", port=0)
    yield health, metrics, port
    server.shutdown()


def test_ready_only_when_subscribed_and_policy_loaded(served):
    health, _, port = served
    assert get(port, READY_PATH)[0] == 503
    health.subscribed = True
    assert get(port, READY_PATH)[0] == 503
    health.policy_loaded = True
    code, body = get(port, READY_PATH)
    assert code == 200 and json.loads(body)["status"] == "ok"


def test_alive_turns_unavailable_when_the_loop_stops_turning(served):
    health, _, port = served
    assert get(port, ALIVE_PATH)[0] == 200
    health.last_turn -= 1.0  # the loop has not turned for a second
    assert get(port, ALIVE_PATH)[0] == 503
    health.beat()
    assert get(port, ALIVE_PATH)[0] == 200


def test_metrics_are_served_in_prometheus_format(served):
    _, metrics, port = served
    metrics.fallbacks.labels(node="n0", guard="non_finite").inc()
    code, body = get(port, "/metrics")
    assert code == 200
    assert b'rrm_xapp_fallbacks_total{guard="non_finite",node="n0"} 1.0' in body
    assert get(port, "/nope")[0] == 404
