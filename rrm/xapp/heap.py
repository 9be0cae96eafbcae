"""The xApp's startup heap, kept out of the cyclic garbage collector's full passes.

Startup leaves a few hundred thousand long-lived objects behind (torch's
modules and operator registry, numpy, the loaded policy, the metrics
registry). CPython's full collection walks every one of them: 0.3-0.45 s on
the 2-core bench host, about once per 800 decisions of a busy gfm loop, and
it stalls whichever stage happened to allocate at that moment (in #18's
in-process bench the decode stage: its mean went 0.24 -> 0.62 ms, one full
pass of ~0.45 s in an 800-decision window, while decoding itself cost the same).
A real-time loop cannot afford a pause of 20 slots. Once the policy is loaded,
:func:`freeze_startup_heap` collects the young generations' garbage and
freezes everything else (:func:`gc.freeze`): later passes see only what the
loop allocates.

No full collection first: that would be the very pause avoided (about a second
on a loaded host, enough for indications queued at a node to expire before the
first subscription). Frozen objects are still freed by reference counting when
dropped; only reference cycles among them (import-time leftovers, and any cycle
in a policy replaced later) stay until the process ends.
"""

from __future__ import annotations

import gc
import threading
import time

import structlog

log = structlog.get_logger("rrm.xapp.heap")
_lock = threading.Lock()
_frozen = False


def freeze_startup_heap() -> bool:
    """Collect the young generations and freeze the heap, once per process (milliseconds).

    Returns:
        True when this call froze the heap, False when an earlier call had.
    """
    global _frozen
    with _lock:
        if _frozen:
            return False
        t0 = time.perf_counter()
        gc.collect(1)  # the young generations only: a full pass is what this avoids
        gc.freeze()
        _frozen = True
    log.info("startup_heap_frozen", objects=gc.get_freeze_count(),
             collect_ms=round(1e3 * (time.perf_counter() - t0), 1))
    return True
