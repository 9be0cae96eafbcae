"""The startup heap is frozen once per process, so full GC passes skip it."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import gc
from rrm.xapp.heap import freeze_startup_heap
startup = [[0]]  # a long-lived container made before the loop starts
assert freeze_startup_heap() is True
assert freeze_startup_heap() is False  # once per process
assert gc.get_freeze_count() > 0
tracked = gc.get_objects()  # generations 0-2: what a full pass walks
assert not any(o is startup for o in tracked), "a startup object is still walked"
later = [[1]]
assert any(o is later for o in gc.get_objects()), "objects made later are collected as usual"
print("ok")
"""


def test_startup_objects_leave_the_collectors_walk_and_later_ones_do_not() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], env=os.environ, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip().endswith("ok")
