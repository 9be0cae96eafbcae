"""``rrm trace report``: figures from a recorded run, a self-contained page, a real browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rrm.cli import main
from tests.xapp.recorded import record

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    trace = record(base / "run.rrmtrace", slots=20)
    assert main(["trace", "report", str(trace), "--out", str(base / "out")]) == 0
    return base / "out"


def test_report_writes_a_page_with_every_figure_inlined(report):
    page = (report / "index.html").read_text()
    inlined = re.findall(r'<img alt="(\w+)" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in inlined] == ["utility", "fallbacks", "latency", "acks"]
    for name, data in inlined:
        assert base64.b64decode(data) == (report / f"{name}.png").read_bytes()
        assert (report / f"{name}.png").read_bytes()[:8] == PNG
    assert "src=\"http" not in page and "<script" not in page  # nothing loaded from outside


def test_report_summary_agrees_with_the_physics(report):
    head = json.loads((report / "summary.json").read_text())
    u = head["utility"]
    assert head["slots"] == 20 and head["nodes"] == ["n0"]
    assert u["full_reuse"] <= u["wmmse"] + 1e-9
    assert head["accepted"] >= head["applied"] and head["latency_ms"]["p50"] > 0
    assert head["refusals"] + sum(head["fallbacks"].values()) <= head["slots"]


def test_series_realised_utility_is_the_decided_one_where_the_control_was_applied(report):
    from rrm.xapp.report import series
    from rrm.xapp.trace_slots import read_slots

    s = series(read_slots(report.parent / "run.rrmtrace"))
    applied = np.asarray(s.applied)
    assert applied.any()
    # block fading, full CSI, no control delay: the node realises what was decided
    np.testing.assert_allclose(np.asarray(s.realised)[applied], np.asarray(s.policy)[applied],
                               rtol=1e-5)


def test_report_of_a_missing_trace_is_one_line(tmp_path, capsys):
    assert main(["trace", "report", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, size: str = "1000,2300") -> None:
    """Render ``page`` in headless Chromium into ``png`` (how docs/img/trace-report.png is made)."""
    exe = browser()
    assert exe is not None
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(browser() is None, reason="no chromium installed (apt-get install chromium)")
def test_a_real_browser_renders_the_page_with_its_figures(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    screenshot(report / "index.html", shot)
    pixels = imread(shot)
    assert pixels.shape[0] > 1000 and pixels.shape[1] >= 1000
    # the figures' coloured lines are drawn: not a blank page of text
    rgb = pixels[..., :3]
    coloured = np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.2
    assert coloured.mean() > 1e-3
