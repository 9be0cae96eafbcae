"""Configuration: precedence, descriptor-style files, clear errors naming the key."""

import json

import pytest

from rrm.core.errors import ConfigError
from rrm.xapp.config import config_as_dict, load_config


def test_precedence_is_defaults_file_environment_flags(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"policy": "full-reuse", "objective": "pf", "health_port": 9000}))
    cfg = load_config(path, environ={"RRM_OBJECTIVE": "qos", "RRM_HEALTH_PORT": "9100"},
                      flags={"health_port": 9200})
    assert (cfg.policy, cfg.objective, cfg.health_port) == ("full-reuse", "qos", 9200)
    assert cfg.transport == "grpc"  # untouched default


def test_config_file_path_comes_from_config_file_variable(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"controls": {"policy": "wmmse-best", "node_ids": ["a", "b"]}}))
    cfg = load_config(environ={"CONFIG_FILE": str(path)})
    assert cfg.policy == "wmmse-best" and cfg.node_ids == ("a", "b")


def test_nested_guard_settings_are_validated():
    cfg = load_config(environ={}, flags={"guards": {"utility_margin": 0.2, "max_links": 80}})
    assert cfg.guards.utility_margin == 0.2 and cfg.guards.max_links == 80
    with pytest.raises(ConfigError, match="unknown config key guards.utility_margn"):
        load_config(environ={}, flags={"guards": {"utility_margn": 0.2}})


@pytest.mark.parametrize("values, message", [
    ({"transprt": "grpc"}, "unknown config key transprt"),
    ({"transport": "http"}, "transport must be one of grpc, zmq"),
    ({"health_port": "x"}, "health_port must be an integer"),
    ({"deadline_fraction": 1.5}, "deadline_fraction must be in"),
    ({"objective": "max"}, "objective must be one of"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, flags=values)


def test_unreadable_files_give_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json", environ={})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad, environ={})


def test_resolved_config_serialises_to_json():
    d = config_as_dict(load_config(environ={"RRM_NODE_IDS": "n1,n2"}))
    assert json.loads(json.dumps(d))["node_ids"] == ["n1", "n2"]


def test_cellfree_fallback_is_validated_and_reaches_the_decider():
    from rrm.xapp.app import XApp

    with pytest.raises(ConfigError, match="cellfree_fallback"):
        load_config(environ={"RRM_CELLFREE_FALLBACK": "silence"})
    cfg = load_config(environ={}, flags={"cellfree_fallback": "pc-wmmse", "policy": "wmmse",
                                         "health_port": 0})
    assert XApp(cfg).decider.cellfree_fallback == "pc-wmmse"
    assert load_config(environ={}).cellfree_fallback == "scale"
