"""pc-wmmse stops between iterations when its StopToken is cancelled or expires."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rrm.core.cancel import Cancelled, StopToken
from rrm.models.cellfree.batch import CellFreeBatch
from rrm.models.cellfree.pcwmmse import PcWmmseConfig, pc_wmmse
from tests.models.cellfree.conftest import cellfree_state


def test_a_token_stops_on_cancel_or_at_its_deadline() -> None:
    free, flagged, expired = StopToken(), StopToken(), StopToken(time.monotonic() - 1.0)
    flagged.cancel()
    assert not free.stopped and flagged.stopped and expired.stopped
    free.check("x")
    with pytest.raises(Cancelled, match="x cancelled"):
        flagged.check("x")
    with pytest.raises(Cancelled, match="deadline"):
        expired.check("x")


def test_a_cancelled_run_raises_before_its_first_iteration(small_batch: CellFreeBatch) -> None:
    stop = StopToken()
    stop.cancel()
    with pytest.raises(Cancelled):
        pc_wmmse(small_batch, stop=stop)


def test_a_live_token_changes_nothing(small_batch: CellFreeBatch) -> None:
    v, x, rounds = pc_wmmse(small_batch)
    v2, x2, rounds2 = pc_wmmse(small_batch, stop=StopToken.within(60.0))
    assert rounds == rounds2 and np.array_equal(x, x2) and np.allclose(v, v2)


def test_cancelling_frees_a_long_run_within_one_iteration() -> None:
    batch = CellFreeBatch.of(cellfree_state(1, 5, num_aps=32, num_ues=64, fronthaul_mbps=5.0))
    cfg = PcWmmseConfig(iters=400, refine_iters=5)  # far longer than the test waits
    stop = StopToken()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            pc_wmmse(batch, cfg, stop)
        except Cancelled as err:
            raised.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(0.3)
    assert worker.is_alive()  # still iterating
    t0 = time.monotonic()
    stop.cancel()
    worker.join(timeout=5.0)
    assert not worker.is_alive() and time.monotonic() - t0 < 2.0
    assert len(raised) == 1


def test_a_deadline_stops_a_long_run_by_itself() -> None:
    batch = CellFreeBatch.of(cellfree_state(1, 5, num_aps=32, num_ues=64, fronthaul_mbps=5.0))
    t0 = time.monotonic()
    with pytest.raises(Cancelled, match="deadline"):
        pc_wmmse(batch, PcWmmseConfig(iters=400, refine_iters=5), StopToken.within(0.2))
    assert time.monotonic() - t0 < 2.0
