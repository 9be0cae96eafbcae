"""values.yaml, the example overrides and bad values against values.schema.json.

Each file is checked twice: by ``jsonschema`` (draft 7, the schema's
dialect) and by Helm's own schema validation (helm_python), which is what
`helm install` runs. The chart's ``config`` schema must stay the xApp's
controls schema (schema.json) less the keys the chart manages.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart_tools import (
    CHART,
    CI_VALUES,
    MANAGED_KEYS,
    helm,
    read_json,
    read_yaml,
)

jsonschema = pytest.importorskip("jsonschema")

VALUES_SCHEMA = read_json("values.schema.json")
CONTROLS_SCHEMA = read_json("schema.json")


def _errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(VALUES_SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(values)]


def _merged(override: dict[str, Any]) -> dict[str, Any]:
    """values.yaml with ``override`` merged in (maps merge, other values replace)."""
    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out
    return merge(read_yaml(CHART / "values.yaml"), override)


def test_the_schemas_are_valid_draft7() -> None:
    meta = jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA)
    for schema in (VALUES_SCHEMA, CONTROLS_SCHEMA, read_json("config-file.schema.json")):
        assert [e.message for e in meta.iter_errors(schema)] == []


@pytest.mark.parametrize("path", [CHART / "values.yaml", *CI_VALUES], ids=lambda p: p.name)
def test_values_and_example_overrides_pass_both_validators(path: Path) -> None:
    values = _merged(read_yaml(path))
    assert _errors(values) == []
    with helm().Chart.load(str(CHART)) as chart:
        chart.validate_schema(read_yaml(path))  # Helm merges the defaults itself


BAD = [
    ({"config": {"transport": "quic"}}, "/config/transport", "grpc"),
    ({"config": {"e2_address": "no-port"}}, "/config/e2_address", "does not match pattern"),
    ({"config": {"health_port": 70000}}, "/config/health_port", "65"),
    ({"config": {"objective": "max"}}, "/config/objective", "sum"),
    ({"config": {"deadline_fraction": 0}}, "/config/deadline_fraction", "0"),
    ({"config": {"guards": {"max_links": 0}}}, "/config/guards/max_links", "1"),
    ({"config": {"record_path": "/tmp/x"}}, "/config", "'record_path' not allowed"),
    ({"config": {"tls_ca_file": "/ca"}}, "/config", "'tls_ca_file' not allowed"),
    ({"tls": {"enabled": True}}, "/tls/secretName", "minLength"),
    ({"curve": {"enabled": True}}, "/curve/secretName", "minLength"),
    ({"shards": [{"name": "a", "node_ids": []}]}, "/shards/0/node_ids", "minItems"),
    ({"shards": [{"name": "Bad_Name", "node_ids": ["n"]}]}, "/shards/0/name",
     "does not match pattern"),
    ({"securityContext": {"readOnlyRootFilesystem": False}},
     "/securityContext/readOnlyRootFilesystem", "true"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot", "true"),
    ({"simulator": {"rho": 1.5}}, "/simulator/rho", "1"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "IfNotPresent"),
    ({"replicaCount": 3}, "'replicaCount' not allowed", "at ''"),
    # the image links its checkpoints to this one path only (#19 item 13)
    ({"checkpoints": {"mountPath": "/data/ckpt"}}, "/checkpoints/mountPath",
     "/opt/rrm/checkpoints"),
]


@pytest.mark.parametrize("override, where, hint", BAD, ids=[b[1] for b in BAD])
def test_bad_values_are_refused_naming_the_key(override: dict[str, Any], where: str,
                                               hint: str) -> None:
    assert _errors(_merged(override)), "jsonschema accepted a bad value"
    with helm().Chart.load(str(CHART)) as chart, pytest.raises(helm().HelmValuesError) as err:
        chart.validate_schema(override)
    message = str(err.value)
    assert where in message and hint in message, message
    with pytest.raises(helm().HelmError):  # `helm template` refuses them as well
        chart_render_refuses(override)


def chart_render_refuses(values: dict[str, Any]) -> None:
    with helm().Chart.load(str(CHART)) as chart:
        chart.render(values=values, name="rrm")


def test_chart_config_schema_is_the_controls_schema_less_managed_keys() -> None:
    chart_cfg = VALUES_SCHEMA["properties"]["config"]["properties"]
    controls = CONTROLS_SCHEMA["properties"]
    assert set(chart_cfg) | MANAGED_KEYS == set(controls)
    assert not set(chart_cfg) & MANAGED_KEYS

    def strip(schema: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in schema.items() if k not in ("default", "description")}
        if "properties" in out:
            out["properties"] = {k: strip(v) for k, v in out["properties"].items()}
        return out

    for key, schema in chart_cfg.items():
        if key == "e2_address":  # the chart also accepts "" (= the bundled simulator)
            assert schema["anyOf"][0] == {"type": "string", "const": ""}
            assert schema["anyOf"][1] == strip(controls[key])
        else:
            assert strip(schema) == strip(controls[key]), key


def test_values_defaults_are_the_xapp_defaults() -> None:
    """Every `config` default in values.yaml equals the documented xApp default."""
    config = read_yaml(CHART / "values.yaml")["config"]
    controls = CONTROLS_SCHEMA["properties"]
    for key, value in config.items():
        if key == "guards":
            defaults = {k: v["default"] for k, v in controls["guards"]["properties"].items()}
            assert value == defaults
        elif key == "health_host":  # the chart binds all interfaces; the xApp, loopback
            assert value == "0.0.0.0" and controls[key]["default"] == "127.0.0.1"
        elif key != "e2_address":
            assert value == controls[key]["default"], key
