"""What the rendered chart wires: E2 address, shards, secrets, volumes, roll-outs, image.

All rendering by the real Helm engine (helm_python); refusals come from the
chart's own `fail`/`required` calls, so their messages are checked.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.charts.chart_tools import (
    REPO,
    SECURITY_KEYS,
    controls_of,
    helm,
    manifests,
    objects,
    render,
    xapp_container,
)

SIM = "rrm-rrm-xapp-sim"


def _one(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Deployment, controls) of a single-instance render."""
    docs = manifests(values)
    deployment = objects(docs, "Deployment")["rrm-rrm-xapp"]
    (configmap,) = objects(docs, "ConfigMap").values()
    return deployment, controls_of(configmap)


def test_default_e2_address_is_the_simulator_service_on_its_port() -> None:
    docs = manifests({})
    _, controls = _one({})
    service = objects(docs, "Service")[SIM]
    assert controls["e2_address"] == f"{SIM}:{service['spec']['ports'][0]['port']}"
    sim = objects(docs, "Deployment")[SIM]["spec"]["template"]["spec"]["containers"][0]
    assert "--port=50051" in sim["args"] and sim["readinessProbe"]["grpc"]["port"] == 50051


def test_zmq_points_the_xapp_at_both_simulator_ports() -> None:
    docs = manifests({"config": {"transport": "zmq"}})
    ports = {p["name"]: p["port"] for p in objects(docs, "Service")[SIM]["spec"]["ports"]}
    (configmap,) = objects(docs, "ConfigMap").values()
    assert controls_of(configmap)["e2_address"] == f"{SIM}:{ports['zmq-pub']}:{ports['zmq-ctl']}"
    args = objects(docs, "Deployment")[SIM]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--transport=zmq" in args and "--pub-port=5556" in args and "--ctl-port=5557" in args


def test_without_simulator_the_e2_address_is_required() -> None:
    with pytest.raises(helm().HelmRenderError, match="config.e2_address is required"):
        render({"simulator": {"enabled": False}})
    docs = manifests({"simulator": {"enabled": False}, "config": {"e2_address": "e2:50051"}})
    assert SIM not in objects(docs, "Deployment") and SIM not in objects(docs, "Service")


def test_shards_get_disjoint_nodes_their_own_config_and_selectors() -> None:
    shards = [{"name": "a", "node_ids": ["node-0", "node-1"]},
              {"name": "b", "node_ids": ["node-2"]}]
    docs = manifests({"shards": shards, "simulator": {"nodes": 3}})
    deployments = {n: d for n, d in objects(docs, "Deployment").items() if n != SIM}
    assert sorted(deployments) == ["rrm-rrm-xapp-a", "rrm-rrm-xapp-b"]
    seen: set[str] = set()
    for shard in shards:
        name = f"rrm-rrm-xapp-{shard['name']}"
        controls = controls_of(objects(docs, "ConfigMap")[f"{name}-config"])
        assert controls["node_ids"] == shard["node_ids"]
        assert controls["xapp_id"] == f"rrm-xapp-{shard['name']}"
        assert not seen & set(controls["node_ids"])
        seen |= set(controls["node_ids"])
        spec = deployments[name]["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
        volume = spec["template"]["spec"]["volumes"][0]
        assert volume["configMap"]["name"] == f"{name}-config"
        # each Service selects its own shard's pods and no other
        selector = objects(docs, "Service")[name]["spec"]["selector"]
        for other, dep in deployments.items():
            labels = dep["spec"]["template"]["metadata"]["labels"]
            assert (selector.items() <= labels.items()) == (other == name)


@pytest.mark.parametrize("values, message", [
    ({"shards": [{"name": "a", "node_ids": ["n0", "n1"]}, {"name": "b", "node_ids": ["n1"]}]},
     'node "n1" is in shard "a" and shard "b"'),
    ({"shards": [{"name": "a", "node_ids": ["n0"]}, {"name": "a", "node_ids": ["n1"]}]},
     'name "a" is used twice'),
    ({"shards": [{"name": "sim", "node_ids": ["n0"]}]}, '"sim" is taken'),
    ({"shards": [{"name": "a", "node_ids": ["n0"]}], "config": {"node_ids": ["n0"]}},
     "config.node_ids must be empty when shards are set"),
    ({"tls": {"enabled": True, "secretName": "s"}, "config": {"transport": "zmq"}},
     "tls.enabled needs config.transport=grpc"),
    ({"curve": {"enabled": True, "secretName": "s"}}, "curve.enabled needs config.transport=zmq"),
])
def test_inconsistent_values_are_refused_with_the_reason(values: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(helm().HelmRenderError) as err:
        render(values)
    assert message in str(err.value)


def _mounts(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in xapp_container(deployment)["volumeMounts"]}


def _volumes(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_security_keys_and_secret_mounts_only_when_enabled() -> None:
    deployment, controls = _one({})
    assert not SECURITY_KEYS & set(controls) and not {"tls", "curve"} & set(_mounts(deployment))
    deployment, controls = _one({"tls": {"enabled": True, "secretName": "e2-tls"}})
    tls_keys = {"tls_ca_file", "tls_cert_file", "tls_key_file"}
    assert SECURITY_KEYS & set(controls) == tls_keys
    mount = _mounts(deployment)["tls"]
    assert mount["readOnly"] and _volumes(deployment)["tls"]["secret"]["secretName"] == "e2-tls"
    assert [controls[k] for k in sorted(tls_keys)] == [
        f"{mount['mountPath']}/{f}" for f in ("ca.crt", "tls.crt", "tls.key")]
    deployment, controls = _one({"config": {"transport": "zmq"},
                                 "curve": {"enabled": True, "secretName": "e2-curve"}})
    assert SECURITY_KEYS & set(controls) == {"curve_server_public_key_file",
                                             "curve_client_key_file"}
    mount = _mounts(deployment)["curve"]
    assert controls["curve_client_key_file"] == f"{mount['mountPath']}/client.key_secret"
    assert _volumes(deployment)["curve"]["secret"]["secretName"] == "e2-curve"


def test_checkpoint_volume_replaces_the_image_directory() -> None:
    deployment, _ = _one({})
    assert "checkpoints" not in _mounts(deployment)
    deployment, _ = _one({"checkpoints": {"existingClaim": "ckpt"}})
    mount = _mounts(deployment)["checkpoints"]
    assert mount["readOnly"] and _volumes(deployment)["checkpoints"]["persistentVolumeClaim"] == {
        "claimName": "ckpt", "readOnly": True}
    # the image keeps its checkpoints exactly where the chart mounts the volume
    relocation = f"python -I /tmp/relocate_checkpoints.py {mount['mountPath']}"
    assert relocation in (REPO / "Dockerfile").read_text()


def test_traces_are_recorded_on_the_writable_volume() -> None:
    deployment, controls = _one({"traces": {"enabled": True}})
    mount = _mounts(deployment)["traces"]
    assert "readOnly" not in mount and controls["record_path"].startswith(mount["mountPath"] + "/")
    _, controls = _one({})
    assert controls["record_path"] == ""


def _checksum(values: dict[str, Any]) -> str:
    deployment, _ = _one(values)
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])


def test_only_keys_the_xapp_cannot_reload_roll_the_pod() -> None:
    base = _checksum({})
    assert _checksum({"config": {"log_level": "debug", "objective": "pf",
                                 "guards": {"max_links": 100}}}) == base
    assert _checksum({"config": {"policy": "gfm"}}) != base


def test_scrape_annotations_and_ports_follow_health_port() -> None:
    docs = manifests({"config": {"health_port": 9100}})
    deployment = objects(docs, "Deployment")["rrm-rrm-xapp"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9100"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert xapp_container(deployment)["ports"] == [
        {"name": "http", "containerPort": 9100, "protocol": "TCP"}]
    assert objects(docs, "Service")["rrm-rrm-xapp"]["spec"]["ports"][0]["port"] == 9100
    docs = manifests({"metrics": {"scrapeAnnotations": False}})
    assert "annotations" not in objects(docs, "Service")["rrm-rrm-xapp"]["metadata"]


def test_dockerfile_matches_the_chart() -> None:
    """Non-root numeric user = runAsUser, EXPOSE = health port, entrypoint runs `rrm`."""
    text = (REPO / "Dockerfile").read_text()
    deployment, controls = _one({})
    pod = deployment["spec"]["template"]["spec"]
    uid = pod["securityContext"]["runAsUser"]
    assert re.search(rf"^USER {uid}:{pod['securityContext']['runAsGroup']}$", text, re.M)
    assert re.search(rf"^EXPOSE {controls['health_port']}$", text, re.M)
    assert 'ENTRYPOINT ["rrm"]' in text and 'CMD ["xapp", "run"]' in text
    assert xapp_container(deployment)["args"] == ["xapp", "run"]
    assert "torch==2.13.0" in text and "torch==2.13.0" in (REPO / "pyproject.toml").read_text()


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_rendered_commands_parse_with_the_real_cli(transport: str) -> None:
    """Helm turns YAML integers into floats (12345678 -> 1.2345678e+07); the chart must not."""
    from rrm.cli import parse_args

    sim_values = {"seed": 12345678, "nodes": 3, "slotMs": 2.5, "rho": 0.25, "csiLoss": 0.1,
                  "controlDelay": 2, "grpcPort": 50000, "zmqPubPort": 10000,
                  "zmqCtlPort": 20000}
    docs = manifests({"simulator": sim_values,
                      "config": {"transport": transport, "health_port": 10000}})
    deployments = objects(docs, "Deployment")
    sim = parse_args(
        deployments[SIM]["spec"]["template"]["spec"]["containers"][0]["args"])
    assert (sim.seed, sim.nodes, sim.slot_ms, sim.rho, sim.csi_loss, sim.control_delay) == (
        12345678, 3, 2.5, 0.25, 0.1, 2)
    assert (sim.transport, sim.host) == (transport, "0.0.0.0")
    assert (sim.port if transport == "grpc" else (sim.pub_port, sim.ctl_port)) == (
        50000 if transport == "grpc" else (10000, 20000))
    xapp = xapp_container(deployments["rrm-rrm-xapp"])
    args = parse_args(xapp["args"])
    assert (args.command, args.xapp_command) == ("xapp", "run")
    assert xapp["ports"][0]["containerPort"] == 10000
