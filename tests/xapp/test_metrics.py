"""The xApp's metrics: the lock-free stage histogram exports what a Histogram would."""

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from rrm.xapp.metrics import _LATENCY_BUCKETS, XAppMetrics


def _lines(registry: CollectorRegistry) -> list[str]:
    """Exposition lines of the stage histogram, without the creation times."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines()
            if "stage_seconds" in line and "_created" not in line]


def test_stage_seconds_export_the_samples_of_a_prometheus_histogram():
    metrics = XAppMetrics()
    reference = CollectorRegistry()
    histogram = Histogram("rrm_xapp_stage_seconds", "Latency per slot-loop stage", ["stage"],
                          buckets=_LATENCY_BUCKETS, registry=reference)
    rng = np.random.default_rng(0)
    # on the bounds, between them, beyond the last, zero
    values = [*_LATENCY_BUCKETS, 0.0, 2.0, *(10.0 ** rng.uniform(-6, 0.5, 500))]
    for i, sec in enumerate(values):
        stage = ("decode", "total", "send")[i % 3]
        metrics.stage_seconds.observe(stage, float(sec))
        histogram.labels(stage).observe(float(sec))
    assert _lines(metrics.registry) == _lines(reference)
    created = [line for line in generate_latest(metrics.registry).decode().splitlines()
               if line.startswith("rrm_xapp_stage_seconds_created")]
    assert len(created) == 3


def test_known_node_labels_are_returned_without_growing_the_table():
    metrics = XAppMetrics()
    assert metrics.node_label("n" * 100) == "n" * 64
    assert metrics.node_label("n" * 100) == "n" * 64
    assert len(metrics._node_labels) == 1
