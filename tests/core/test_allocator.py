"""The glibc thresholds are raised once per process and user settings win."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import resource, torch
from rrm.core.allocator import retain_freed_memory
torch.set_num_threads(1)
if {raise_it}:
    retain_freed_memory()
def step():
    a = torch.ones(3, 20, 80 * 80)  # K^2-sized intermediates of a K = 80 decision
    b = a * 2.0
    c = b + a
    return float(c[0, 0, 0])
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _faults_per_step(raise_it: bool, env: dict[str, str] | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD.format(raise_it=raise_it)],
                         capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.split()[-1])


def test_raised_thresholds_stop_per_step_page_faults() -> None:
    # each step allocates 3 x 1.5 MB (375 pages each); glibc's defaults often trim them
    # back to the kernel every step (~1,100 faults), raised thresholds keep them
    # (a one-off fault of one tensor in 20 steps is ~19 per step)
    assert _faults_per_step(True) < 100


def test_user_environment_keeps_its_thresholds() -> None:
    import os

    from rrm.core import allocator

    saved = list(allocator._done)
    allocator._done.clear()
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "131072"
    try:
        assert allocator.retain_freed_memory() is False
    finally:
        del os.environ["MALLOC_TRIM_THRESHOLD_"]
        allocator._done[:] = saved
