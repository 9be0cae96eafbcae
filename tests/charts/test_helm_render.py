"""The chart rendered and linted by the real Helm engine, its manifests validated offline.

Tools: ``helm_python`` (helm-python-sdk: Helm v4 SDK) renders and lints;
``kubernetes_validate`` checks every object against the Kubernetes OpenAPI
schemas (strict: unknown fields fail) of the oldest supported and the newest
bundled Kubernetes; ``yamllint`` checks the values files and the rendered text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart_tools import (
    CHART,
    CI_VALUES,
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
