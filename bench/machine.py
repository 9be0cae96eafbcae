"""Machine description stamped on every benchmark result."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np


def machine_info() -> dict[str, str]:
    """CPU model, cores, Python and numpy versions, date."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "numpy": np.__version__, "date": datetime.date.today().isoformat()}


def machine_line() -> str:
    """One markdown line describing the machine."""
    m = machine_info()
    return (f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
            f"numpy {m['numpy']}, {m['date']}.")


RESULTS = Path(__file__).resolve().parent / "results"


def save_results(stem: str, lines: list[str], rows: list[dict[str, Any]]) -> str:
    """Write ``results/<stem>.md`` (``lines``) and ``.json`` (machine + ``rows``); the markdown."""
    RESULTS.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps({"machine": machine_info(), "rows": rows},
                                                     indent=1))
    return text


def run_in_tree(script: str, tree: str, args: list[str], timeout_s: float = 600) -> dict[str, Any]:
    """Run ``script --child ARGS`` with ``tree``'s ``rrm`` on one thread; its last stdout line
    (JSON), or ``{"error": <its last stderr line>}`` when it failed."""
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, script, "--child", *args], env=env,
                         capture_output=True, text=True, timeout=timeout_s)
    if res.returncode:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    out: dict[str, Any] = json.loads(res.stdout.splitlines()[-1])
    return out
