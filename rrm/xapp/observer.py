"""Observers of the slot loop: what watches each slot without being part of its work.

The loop calls every observer's hooks, in this order, for each fresh
indication (duplicates and stale ones are dropped before). The trace
recorder (:class:`rrm.xapp.recorder.Recorder`) and the demo's reference
comparison (:class:`rrm.xapp.references.ReferenceObserver`) are observers.
Hooks run on the loop's thread, inside the slot: they keep, they do not compute.
"""

from __future__ import annotations

from rrm.core.wire.messages import ControlMsg
from rrm.xapp.decision import Decision
from rrm.xapp.transport.base import Acked, Received


class LoopObserver:
    """Hooks of one slot; each does nothing unless overridden."""

    def on_indication(self, received: Received) -> None:
        """A fresh indication, decoded or refused."""

    def on_decision(self, received: Received, decision: Decision) -> None:
        """What was decided for it (an allocation or a refusal), before it is sent."""

    def on_ack(self, received: Received, control: ControlMsg, acked: Acked) -> None:
        """The control sent for it and the node's ack, with both messages' wire bytes."""
