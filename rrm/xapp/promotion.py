"""Promotion of a checkpoint by a config change, and automatic rollback.

Promotion: the config watcher sees ``checkpoint`` (and ``checkpoint_sha256``)
change and calls :meth:`Promotion.promote`: the sha256 of the new
checkpoint's weights must equal the config's ``checkpoint_sha256``, then the
policy is built (the loader checks the checkpoint's own metadata too) and
swapped into the decider between two slots. A mismatch, or a checkpoint that
does not load, is refused with one log line (``promotion_refused``) and
``rrm_xapp_promotions{outcome="refused"}``; the old policy stays.

Rollback: :class:`Promotion` watches the realised utility the node acks
(an observer of the slot loop). At promotion it takes the mean over the last
``rollback_window`` slots of the previous policy (``before``); once the
promoted one has ``rollback_window`` slots of its own (``after``), it is
judged once: ``after < before - rollback_margin * |before|`` swaps the
previous policy back in (``rollback`` logged, ``rrm_xapp_rollbacks``), else
``promotion_kept``. ``rrm_xapp_window_utility{phase="before"|"after"}``
shows both means. A rollback does not edit the config: it still names the
rolled-back checkpoint until the operator changes it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
import structlog

from rrm.core.errors import CheckpointError, RrmError
from rrm.core.wire.messages import ControlMsg
from rrm.models.checkpoint import WEIGHTS, sha256_of
from rrm.models.policy import Policy
from rrm.xapp.decision import Decider
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.observer import LoopObserver
from rrm.xapp.transport.base import Acked, Received

log = structlog.get_logger("rrm.xapp.promotion")


def verify_sha256(checkpoint: str, expected: str) -> None:
    """CheckpointError unless ``checkpoint``'s weights hash to ``expected`` (hex sha256)."""
    if not expected:
        raise CheckpointError(f"checkpoint_sha256 must name the sha256 of {checkpoint!r}'s "
                              f"{WEIGHTS} to promote it")
    path = Path(checkpoint) / WEIGHTS
    try:
        actual = sha256_of(path)
    except OSError as err:
        raise CheckpointError(f"checkpoint {checkpoint!r}: {WEIGHTS} unreadable "
                              f"({err.strerror or err})") from None
    if actual != expected.strip().lower():
        raise CheckpointError(f"checkpoint {checkpoint!r}: sha256 {actual[:12]} is not the "
                              f"configured checkpoint_sha256 {expected[:12]}")


class Promotion(LoopObserver):
    """Swaps the decider's policy on promotion and back on a failed window (see the module).

    Args:
        decider: whose ``policy`` is swapped (an attribute write between slots).
        metrics: promotions, rollbacks, window utilities.
        build: makes the policy of a checkpoint directory (the configured policy name).
        checkpoint: the active checkpoint ('' = the policy's shipped one).
        window: realised-utility slots per window (0: no rollback).
        margin: relative slack below ``before`` still kept.
    """

    def __init__(self, decider: Decider, metrics: XAppMetrics, build: Callable[[str], Policy],
                 checkpoint: str = "", window: int = 64, margin: float = 0.0) -> None:
        self.decider, self.metrics, self.build = decider, metrics, build
        self.checkpoint, self.window, self.margin = checkpoint, window, margin
        self.realised: deque[float] = deque(maxlen=max(window, 1))
        self.before: float | None = None  # the previous policy's window mean while judging
        self.previous: tuple[Policy, str] | None = None  # (policy, checkpoint) to return to
        self._lock = threading.Lock()

    def promote(self, checkpoint: str, sha256: str) -> bool:
        """Make ``checkpoint`` the active policy; False (logged, counted) when refused."""
        try:
            verify_sha256(checkpoint, sha256)
            policy = self.build(checkpoint)
        except (RrmError, TypeError, OSError) as err:
            self.metrics.child(self.metrics.promotions, "refused").inc()
            log.error("promotion_refused", checkpoint=checkpoint, error=str(err)[:300],
                      active=self.checkpoint or "shipped")
            return False
        with self._lock:
            self.before = float(np.mean(self.realised)) if self.realised else None
            self.previous = (self.decider.policy, self.checkpoint)
            self.decider.policy, self.checkpoint = policy, checkpoint
            self.realised.clear()
        if self.before is not None:
            self.metrics.child(self.metrics.window_utility, "before").set(self.before)
        self.metrics.child(self.metrics.promotions, "promoted").inc()
        log.info("promoted", checkpoint=checkpoint, version=policy.version,
                 previous=self.previous[1] or "shipped", before=self.before,
                 window=self.window)
        return True

    def on_ack(self, received: Received, control: ControlMsg, acked: Acked) -> None:
        """Keep the realised utility; judge the promotion when its window is full."""
        ack = acked.ack
        if not ack.realised or not math.isfinite(ack.utility):
            return
        with self._lock:
            self.realised.append(ack.utility)
            judging = self.previous is not None and self.window > 0
            if not judging or len(self.realised) < self.window:
                return
            after = float(np.mean(self.realised))
            self.metrics.child(self.metrics.window_utility, "after").set(after)
            self._judge(after)

    def _judge(self, after: float) -> None:
        """Once per promotion (lock held): keep it, or roll back to the previous policy."""
        assert self.previous is not None
        before, (policy, checkpoint) = self.before, self.previous
        self.previous = None
        if before is None or after >= before - self.margin * abs(before):
            log.info("promotion_kept", checkpoint=self.checkpoint, before=before, after=after)
            return
        failed = self.checkpoint
        self.decider.policy, self.checkpoint = policy, checkpoint
        self.realised.clear()
        self.metrics.rollbacks.inc()
        log.warning("rollback", failed=failed, restored=checkpoint or "shipped",
                    before=round(before, 4), after=round(after, 4), margin=self.margin,
                    window=self.window)
