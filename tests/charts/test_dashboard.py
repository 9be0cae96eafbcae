"""The Grafana dashboard shipped in the chart queries only what the xApp exports."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from rrm.xapp.metrics import STAGES, StageSeconds, XAppMetrics
from tests.charts.chart_tools import CHART, manifests, objects

DASHBOARD = CHART / "dashboards" / "rrm-xapp.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> dict[str, set[str]]:
    """Series names the xApp exposes on /metrics -> their label names (from its registry)."""
    m = XAppMetrics()
    out: dict[str, set[str]] = {}
    for collector in [v for v in vars(m).values()
                      if isinstance(v, MetricWrapperBase | StageSeconds)]:
        for family in collector.describe():
            labels = set(getattr(collector, "_labelnames", ()))
            for suffix in SUFFIXES[family.type]:
                out[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


def queries() -> list[str]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_every_metric_the_dashboard_queries_is_exported_by_the_xapp():
    names = exported()
    used = {n for q in queries() for n in re.findall(r"\brrm_xapp_[a-z_]+\b", q)}
    assert used and used <= set(names), sorted(used - set(names))
    # and the dashboard shows every family the xApp exports
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}
    assert {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in used} == families


def test_the_dashboard_groups_and_filters_only_by_labels_the_metric_has():
    names, grouped = exported(), 0
    for q in queries():
        for metric, matchers in re.findall(r"(rrm_xapp_[a-z_]+)\{([^}]*)\}", q):
            for label, value in re.findall(r'(\w+)=~?"([^"]*)"', matchers):
                assert label in names[metric] | {"namespace"}, (metric, label)
                if label == "stage":
                    assert value in STAGES
        for by, inner in re.findall(r"by \(([^)]*)\) \((?:rate|increase)?\(?(rrm_xapp_[a-z_]+)",
                                    q):
            assert {b.strip() for b in by.split(",")} <= names[inner], (q, by)
            grouped += 1
    assert grouped >= 8


def test_chart_ships_the_dashboard_only_when_asked():
    pytest.importorskip("helm_python")
    assert not any("dashboard" in n for n in objects(manifests(), "ConfigMap"))
    cms = objects(manifests({"metrics": {"grafanaDashboard": True}}), "ConfigMap")
    board = next(cm for name, cm in cms.items() if name.endswith("-dashboard"))
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["rrm-xapp.json"]) == json.loads(DASHBOARD.read_text())
