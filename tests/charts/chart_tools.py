"""Shared helpers of the chart tests: the chart's files, rendering with the real Helm engine.

Rendering and linting go through ``helm_python`` (the ``helm-python-sdk``
wheel: Helm v4's Go SDK behind a C ABI), so no ``helm`` binary is needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rrm-xapp"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "rrm"
NAMESPACE = "ricxapp"
# Keys the chart sets itself (files it mounts); absent from `config` in values.
MANAGED_KEYS = {"record_path", "tls_ca_file", "tls_cert_file", "tls_key_file",
                "curve_server_public_key_file", "curve_client_key_file"}
SECURITY_KEYS = MANAGED_KEYS - {"record_path"}


def helm() -> Any:
    """The helm_python module (skips only if the wheel is not installed)."""
    return pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra) not installed")


def read_json(name: str) -> dict[str, Any]:
    """A JSON file of the chart directory."""
    data: dict[str, Any] = json.loads((CHART / name).read_text())
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML values file."""
    data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    return data


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would print it."""
    with helm().Chart.load(str(CHART)) as chart:
        out: dict[str, str] = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    return out


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders (NOTES.txt left out)."""
    docs: list[dict[str, Any]] = []
    for path, text in render(values).items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def controls_of(configmap: dict[str, Any]) -> dict[str, Any]:
    """The xApp controls inside a rendered ConfigMap."""
    data: dict[str, Any] = json.loads(configmap["data"]["config-file.json"])["controls"]
    return data


def xapp_container(deployment: dict[str, Any]) -> dict[str, Any]:
    """The `xapp` container of a rendered Deployment."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "xapp")


def named_port(container: dict[str, Any], port: int | str) -> int:
    """Resolve a probe's port (number or the name of a containerPort)."""
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))


def template_output(values: dict[str, Any] | None = None) -> str:
    """The text `helm template` prints: each document as ``---``, ``# Source:``, body.

    Documents are split and trimmed the way Helm's releaseutil does
    (separator regex ``(?:^|\\s*\\n)---\\s*``); empty ones are dropped.
    """
    parts = []
    for path, text in sorted(render(values).items()):
        if not path.endswith(".yaml"):
            continue
        for doc in re.split(r"(?:^|\s*\n)---\s*", text):
            if doc.strip():
                parts.append(f"---\n# Source: {path}\n{doc.strip()}\n")
    return "".join(parts)
