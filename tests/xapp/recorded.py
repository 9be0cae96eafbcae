"""A small recorded run for the explain and report tests: in-process, lockstep, seeded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rrm.core.wire.messages import SubscribeMsg
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.app import XApp
from rrm.xapp.config import config_as_dict, load_config
from rrm.xapp.loop import SlotLoop
from rrm.xapp.observer import LoopObserver
from rrm.xapp.recorder import Recorder
from rrm.xapp.transport.inproc import InProcessClient


def record(path: Path, policy: str = "wmmse", slots: int = 12, k: int = 8,
           extra: dict[str, object] | None = None,
           observers: Callable[[XApp], list[LoopObserver]] | None = None) -> Path:
    """Record ``slots`` slots of one d2d node with ``k`` links decided by ``policy``."""
    sim = Simulator([build_node(NodeSpec(num_links=k), "n0", 0, 0.05)], 0.05, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    app = XApp(load_config(environ={}, flags={"policy": policy, "health_port": 0,
                                              "log_level": "error", **(extra or {})}))
    recorder = Recorder(path, {"writer": "test", "config": config_as_dict(app.cfg)}, app.metrics)
    more = observers(app) if observers else []
    loop = SlotLoop(client, app.decider, app.metrics, app.health, [recorder, *more],
                    stats=app.stats)
    sim.start()
    try:
        loop.run(threading.Event(), max_slots=slots)
    finally:
        sim.stop()
        recorder.close()
        app.decider.close()
    return path
