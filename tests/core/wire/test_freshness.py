"""The freshest-first queue evicts the oldest item and counts it."""

from rrm.core.wire.freshness import DropOldestQueue


def test_full_queue_evicts_the_oldest_and_counts_drops():
    q = DropOldestQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2
    assert [q.get(0), q.get(0), q.get(0), q.get(0)] == [2, 3, 4, None]


def test_get_times_out_with_none():
    assert DropOldestQueue(1).get(0.01) is None
