"""rrm demo: the closed loop on loopback and its JSON summary contract."""

import json
import subprocess
import sys


def rrm(*args):
    return subprocess.run([sys.executable, "-m", "rrm", *args], capture_output=True,
                          text=True, timeout=120)


def test_demo_runs_the_closed_loop_and_prints_the_json_contract():
    result = rrm("demo", "--slots", "60", "--slot-ms", "50", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("policy", "slots", "controls", "refusals", "fallbacks", "deadline_misses",
                "latency_ms", "utility"):
        assert key in summary
    assert summary["slots"] == 60 and summary["controls"] + summary["refusals"] == 60
    assert set(summary["latency_ms"]) >= {"p50", "p99"}
    assert set(summary["utility"]) >= {"policy", "wmmse", "full_reuse"}
    assert summary["utility"]["wmmse"] > summary["utility"]["full_reuse"]
