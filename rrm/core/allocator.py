"""Keep freed heap memory in the process, so per-slot tensors do not page-fault.

A GFM forward at K = 80 allocates a few K^2-sized intermediates (1.2-1.5 MB
each, e.g. the bias projector's ``(B, L bh, K^2)`` hidden layer). glibc's
defaults hand such blocks back to the kernel when they are freed (``mmap``
above the mmap threshold; ``brk`` trimmed once the free top of the heap
passes the trim threshold), so the next slot touches fresh pages again:
~1,300 minor faults per K = 80 decision, which took a frozen-graph decide
from ~1.3 ms to 7-10 ms on the shared 2-core EPYC (bench/results/
gfm_decide_388249f.md, #18). :func:`retain_freed_memory` raises both thresholds
once per process: blocks up to ``mmap_mb`` come from the heap and up to
``trim_mb`` of freed heap stays mapped for the next slot (resident memory
grows by at most that much).

Only glibc has ``mallopt``; elsewhere (musl, macOS) this is a no-op. A user
who set ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_`` keeps their
values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
TRIM_MB, MMAP_MB = 64, 32  # 32 MiB: glibc's own cap for its dynamic mmap threshold
USER_KEYS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
_done: list[bool] = []  # once per process


def retain_freed_memory(trim_mb: int = TRIM_MB, mmap_mb: int = MMAP_MB) -> bool:
    """Raise glibc's trim and mmap thresholds (MiB) once per process.

    Returns True where the thresholds are (now) raised, False where this
    process has no glibc ``mallopt`` or the user set them by environment.
    """
    if _done:
        return _done[0]
    ok = False
    if not any(key in os.environ for key in USER_KEYS):
        ok = _mallopt(M_TRIM_THRESHOLD, trim_mb << 20) and _mallopt(M_MMAP_THRESHOLD,
                                                                    mmap_mb << 20)
    _done.append(ok)
    return ok


def _mallopt(param: int, value: int) -> bool:
    """glibc ``mallopt(param, value)``; False where there is none or it refused."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)))
    except (OSError, AttributeError, TypeError):
        return False
