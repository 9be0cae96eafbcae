"""The xApp descriptor (config-file.json): its schema, the xApp, and the chart agree.

The descriptor is hand-kept; these checks make it fail loudly the moment it
drifts from the chart (image, probes, ports, args, controls), from the
xApp's configuration (XAppConfig fields and defaults) or from its metrics.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rrm.xapp.config import XAppConfig, load_config
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import ALIVE_PATH, READY_PATH
from rrm.xapp.metrics import XAppMetrics
from tests.charts.chart_tools import (
    CHART,
    SECURITY_KEYS,
    controls_of,
    manifests,
    named_port,
    objects,
    read_json,
    read_yaml,
    xapp_container,
)

jsonschema = pytest.importorskip("jsonschema")

DESCRIPTOR = read_json("config-file.json")
CONTROLS_SCHEMA = read_json("schema.json")


def test_descriptor_is_valid_against_its_schema_and_controls_against_the_xapps() -> None:
    descriptor_errors = jsonschema.Draft7Validator(read_json("config-file.schema.json"))
    assert [e.message for e in descriptor_errors.iter_errors(DESCRIPTOR)] == []
    controls_errors = jsonschema.Draft7Validator(CONTROLS_SCHEMA)
    assert [e.message for e in controls_errors.iter_errors(DESCRIPTOR["controls"])] == []


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["livenessProbe"]["httpGet"].update(path="/healthz"), "livenessProbe"),
    (lambda d: d["containers"][0]["image"].pop("tag"), "containers"),
    (lambda d: d["messaging"]["ports"][0].update(port=0), "messaging"),
    (lambda d: d["metrics"][0].update(type="meter"), "metrics"),
])
def test_descriptor_schema_refuses_broken_descriptors(mutate: Any, where: str) -> None:
    broken = read_json("config-file.json")
    mutate(broken)
    errors = list(jsonschema.Draft7Validator(read_json("config-file.schema.json"))
                  .iter_errors(broken))
    assert errors and all(e.absolute_path[0] == where for e in errors)


def test_controls_schema_covers_exactly_the_xapp_config_with_its_defaults() -> None:
    props = CONTROLS_SCHEMA["properties"]
    fields = {f.name for f in dataclasses.fields(XAppConfig)}
    # TLS/CURVE keys are the contract with the transport security work (#8): they
    # are in the schema ahead of XAppConfig; the chart emits them only when enabled.
    assert set(props) - SECURITY_KEYS == fields - SECURITY_KEYS
    defaults = XAppConfig()
    for name in fields - {"guards"}:
        value = getattr(defaults, name)
        assert props[name]["default"] == (list(value) if isinstance(value, tuple) else value), name
    guard_props = props["guards"]["properties"]
    assert set(guard_props) == {f.name for f in dataclasses.fields(GuardConfig)}
    for name, schema in guard_props.items():
        assert schema["default"] == getattr(GuardConfig(), name), name


def test_schema_choices_are_the_xapps() -> None:
    from rrm.core.objectives import OBJECTIVE_NAMES
    from rrm.models.policy import policy_names
    from rrm.xapp.config import LOG_LEVELS, TRANSPORTS

    props = CONTROLS_SCHEMA["properties"]
    assert tuple(props["objective"]["enum"]) == OBJECTIVE_NAMES
    assert tuple(props["transport"]["enum"]) == TRANSPORTS
    assert tuple(props["log_level"]["enum"]) == LOG_LEVELS
    pattern = jsonschema.Draft7Validator(props["policy"])
    assert all(pattern.is_valid(name) for name in policy_names())
    assert set(props["fallback_policy"]["enum"]) <= set(policy_names())


def test_the_xapp_loads_the_descriptor_as_its_config_file() -> None:
    cfg = load_config(CHART / "config-file.json", environ={})
    assert cfg.e2_address == DESCRIPTOR["controls"]["e2_address"]
    assert cfg.health_host == "0.0.0.0"  # the chart binds all interfaces in the pod
    assert dataclasses.replace(cfg, e2_address=XAppConfig().e2_address,
                               health_host=XAppConfig().health_host) == XAppConfig()


def test_descriptor_metrics_are_the_xapps_metric_families() -> None:
    kinds = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}
    served = {}
    for family in XAppMetrics().registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        served[name] = (kinds[family.type], family.documentation)
    assert {m["name"]: (m["type"], m["description"]) for m in DESCRIPTOR["metrics"]} == served


def test_descriptor_agrees_with_the_rendered_chart() -> None:
    values = read_yaml(CHART / "values.yaml")
    chart = read_yaml(CHART / "Chart.yaml")
    docs = manifests({})
    deployment = objects(docs, "Deployment")["rrm-rrm-xapp"]
    container = xapp_container(deployment)
    (spec,) = DESCRIPTOR["containers"]
    assert DESCRIPTOR["xapp_name"] == chart["name"] and DESCRIPTOR["version"] == chart["appVersion"]
    assert spec["image"] == {"registry": values["image"]["registry"],
                             "name": values["image"]["repository"],
                             "tag": values["image"]["tag"] or chart["appVersion"]}
    assert container["image"] == "{registry}/{name}:{tag}".format(**spec["image"])
    assert spec["name"] == container["name"] and spec["args"] == container["args"]
    for key, path in (("livenessProbe", ALIVE_PATH), ("readinessProbe", READY_PATH)):
        mine, theirs = DESCRIPTOR[key], container[key]
        assert mine["httpGet"]["path"] == theirs["httpGet"]["path"] == path
        assert mine["httpGet"]["port"] == named_port(container, theirs["httpGet"]["port"])
        assert {k: v for k, v in mine.items() if k != "httpGet"} == {
            k: v for k, v in theirs.items() if k != "httpGet"}
    (port,) = DESCRIPTOR["messaging"]["ports"]
    service = objects(docs, "Service")["rrm-rrm-xapp"]
    assert port["port"] == named_port(container, "http") == service["spec"]["ports"][0]["port"]
    assert port["container"] == container["name"]
    (configmap,) = objects(docs, "ConfigMap").values()
    rendered = controls_of(configmap)
    # e2_address: the chart's default is its own simulator Service, the
    # descriptor names a RIC's E2 node; both use the gRPC port the simulator serves.
    assert rendered.pop("e2_address").rsplit(":", 1)[1] == (
        DESCRIPTOR["controls"]["e2_address"].rsplit(":", 1)[1]) == str(
        values["simulator"]["grpcPort"])
    assert rendered == {k: v for k, v in DESCRIPTOR["controls"].items() if k != "e2_address"}
