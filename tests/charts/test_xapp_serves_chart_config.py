"""The real xApp process started the way the chart starts it, probed where the chart probes.

The chart is rendered (Helm engine) against a local simulator; its
ConfigMap is laid out on disk the way the kubelet mounts a ConfigMap
directory (timestamped folder, ``..data`` symlink, per-key symlinks), the
container's args and ``CONFIG_FILE`` are taken from the rendered
Deployment, and the liveness/readiness paths and the metrics port from its
probes and ports. Then the ConfigMap is updated by a symlink swap, as the
kubelet does, and the xApp must apply the new log level without a restart.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart_tools import (
    manifests,
    named_port,
    objects,
    read_json,
    xapp_container,
)

RRM = [sys.executable, "-m", "rrm"]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sim(transport: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [*RRM, "sim", "serve", "--transport", transport, "--port", "0", "--pub-port", "0",
           "--ctl-port", "0", "--k", "6", "--nodes", "2", "--slot-ms", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, str(json.loads(proc.stdout.readline())["address"])


def _mount_configmap(configmap: dict[str, Any], directory: Path, generation: int) -> None:
    """Write (or atomically replace) ``configmap`` under ``directory`` like the kubelet."""
    data_dir = directory / f"..2026_11_25_00_00_0{generation}.000000001"
    data_dir.mkdir(parents=True)
    for key, text in configmap["data"].items():
        (data_dir / key).write_text(text)
        link = directory / key
        if not link.is_symlink():
            link.symlink_to(Path("..data") / key)
    tmp_link = directory / "..data_tmp"
    tmp_link.symlink_to(data_dir.name)
    os.replace(tmp_link, directory / "..data")


def _get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


def _wait(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_xapp_serves_health_and_metrics_where_the_chart_probes(tmp_path: Path) -> None:
    transport = "grpc"  # the chart's ZeroMQ address is checked in test_chart_behaviour
    sim, address = _start_sim(transport)
    xapp = None
    log = (tmp_path / "rrm.xapp.log").open("w")
    try:
        values: dict[str, Any] = {"simulator": {"enabled": False},
                  "config": {"transport": transport, "e2_address": address,
                             "health_port": _free_port()}}
        docs = manifests(values)
        deployment = objects(docs, "Deployment")["rrm-rrm-xapp"]
        (configmap,) = objects(docs, "ConfigMap").values()
        container = xapp_container(deployment)
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        env = {e["name"]: e["value"] for e in container["env"]}
        relative = Path(env["CONFIG_FILE"]).relative_to(mount["mountPath"])
        config_dir = tmp_path / "config"
        _mount_configmap(configmap, config_dir, 1)
        proc_env = {k: v for k, v in os.environ.items() if not k.startswith("RRM_")}
        proc_env["CONFIG_FILE"] = str(config_dir / relative)
        xapp = subprocess.Popen([*RRM, *container["args"]], env=proc_env,
                                stdout=subprocess.DEVNULL, stderr=log, text=True)

        alive = container["livenessProbe"]["httpGet"]
        ready = container["readinessProbe"]["httpGet"]
        port = named_port(container, alive["port"])
        assert port == named_port(container, ready["port"]) == values["config"]["health_port"]
        _wait(lambda: _get(port, alive["path"])[0] == 200, 60, f"{alive['path']} = 200")
        _wait(lambda: _get(port, ready["path"])[0] == 200, 60, f"{ready['path']} = 200")
        status = json.loads(_get(port, ready["path"])[2])
        assert status["subscribed"] and status["policy_loaded"]

        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        metrics_port = int(annotations["prometheus.io/port"])
        assert metrics_port == port
        code, ctype, text = _get(metrics_port, annotations["prometheus.io/path"])
        assert code == 200 and ctype.startswith("text/plain")
        for metric in read_json("config-file.json")["metrics"]:
            assert f"# TYPE {metric['name']} {metric['type']}" in text, metric["name"]
        assert "rrm_xapp_subscribed 1.0" in text
        _wait(lambda: 'rrm_xapp_controls_total{node="node-1",policy="wmmse"}'
              in _get(metrics_port, "/metrics")[2], 30, "controls to node-1")

        # kubelet-style ConfigMap update: the log level changes without a restart
        configmap["data"]["config-file.json"] = configmap["data"]["config-file.json"].replace(
            '"log_level": "info"', '"log_level": "debug"')
        _mount_configmap(configmap, config_dir, 2)
        _wait(lambda: '"config_reloaded"' in (tmp_path / "rrm.xapp.log").read_text(), 20,
              "config_reloaded in the log")
        assert xapp.poll() is None
    finally:
        for proc in (xapp, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
        log.close()
