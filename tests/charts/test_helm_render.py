"""The chart rendered and linted by the real Helm engine, its manifests validated offline.

Tools: ``helm_python`` (helm-python-sdk: Helm v4 SDK) renders and lints;
``kubernetes_validate`` checks every object against the Kubernetes OpenAPI
schemas (strict: unknown fields fail) of the oldest supported and the newest
bundled Kubernetes; ``yamllint`` checks the values files and the rendered text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart_tools import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    RELEASE,
    helm,
    manifests,
    read_yaml,
    template_output,
)

CASES: dict[str, dict[str, Any]] = {"defaults": {}} | {p.name: read_yaml(p) for p in CI_VALUES}
KUBE_MIN = "1.25.0"  # Chart.yaml kubeVersion


@pytest.mark.parametrize("name", sorted(CASES))
def test_helm_lint_strict_finds_nothing_above_info(name: str) -> None:
    for kube in (f"v{KUBE_MIN}", None):
        report = helm().lint(str(CHART), CASES[name] or None, strict=True, kube_version=kube)
        assert report["total_charts_linted"] == 1
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_rendered_object_is_valid_kubernetes(name: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    docs = manifests(CASES[name])
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ConfigMap", "Pod"}
    for version in (KUBE_MIN, kv.latest_version()):
        for doc in docs:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as err:  # pragma: no cover - the failure message
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on {version}: {err}")


def _yamllint(text: str, where: str) -> list[str]:
    yl_config = pytest.importorskip("yamllint.config")
    linter = pytest.importorskip("yamllint.linter")
    conf = yl_config.YamlLintConfig(file=str(CHART.parent / ".yamllint.yaml"))
    return [f"{where}:{p.line}:{p.column} {p.message}" for p in linter.run(text, conf)]


def test_the_yamllint_config_catches_defects() -> None:
    found = _yamllint("---\na: 1 \na: 2\n", "sample")
    assert any("trailing spaces" in f for f in found)
    assert any("duplication of key" in f for f in found)


@pytest.mark.parametrize("path", [CHART / "Chart.yaml", CHART / "values.yaml", *CI_VALUES],
                         ids=lambda p: p.name)
def test_values_files_are_yamllint_clean(path: Path) -> None:
    assert _yamllint(path.read_text(), path.name) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_helm_template_output_is_yamllint_clean(name: str) -> None:
    assert _yamllint(template_output(CASES[name]), f"helm template ({name})") == []


def _pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    return specs + [d["spec"] for d in docs if d["kind"] == "Pod"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_container_is_locked_down(name: str) -> None:
    for spec in _pod_specs(manifests(CASES[name])):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"]


def test_helm_lint_reports_a_broken_chart_input() -> None:
    """The lint call is live: values that break the schema come back as errors."""
    report = helm().lint(str(CHART), {"config": {"transport": "quic"}}, strict=True)
    assert any(m["severity"] == 3 and "/config/transport" in m["error"]
               for m in report["messages"])


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm binary on this machine")
@pytest.mark.parametrize("name", sorted(CASES))
def test_helm_binary_lints_and_templates_the_same(name: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(CASES[name]))  # JSON is YAML
    lint = subprocess.run(["helm", "lint", "--strict", str(CHART), "-f", str(values)],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    out = subprocess.run(["helm", "template", RELEASE, str(CHART), "-n", NAMESPACE,
                          "-f", str(values)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    def key(doc: dict[str, Any]) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    binary = sorted((d for d in yaml.safe_load_all(out.stdout) if d), key=key)
    assert binary == sorted((d for d in yaml.safe_load_all(template_output(CASES[name])) if d),
                            key=key)
