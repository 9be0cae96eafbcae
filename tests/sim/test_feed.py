"""QueueFeed and SharedIndication: one serialization per slot, whatever the readers."""

from __future__ import annotations

import numpy as np

from rrm.core.wire import e2_pb2 as pb
from rrm.sim.e2.doorbell import Doorbell
from rrm.sim.feed import STAMP_BYTES, QueueFeed, SharedIndication


def slot_indication(k: int = 6) -> pb.Indication:
    ind = pb.Indication()
    ind.header.node_id, ind.header.slot, ind.header.sequence_number = "node-0", 7, 8
    ind.d2d.gains.data = np.random.default_rng(0).random((k, k)).tobytes()
    ind.d2d.gains.shape.extend([k, k])
    return ind


def test_a_stamped_event_decodes_to_the_stamped_copy() -> None:
    shared = SharedIndication(slot_indication())
    feeds = {cid: QueueFeed(frozenset({"node-0"})) for cid in ("a" * 16, "b" * 16)}
    for cid, feed in feeds.items():
        feed.put(shared, cid, shared.size + STAMP_BYTES)
        feed.put(shared, cid, shared.size + STAMP_BYTES)
    for cid, feed in feeds.items():
        event = pb.SubscriptionEvent.FromString(feed.get_event(0) or b"")
        assert event.indication == feed.get(0)  # the protobuf path gives the same message
        assert event.indication.header.channel_id == cid
        assert event.indication.d2d == shared.ind.d2d
    assert shared.ind.header.channel_id == ""  # the shared message was never changed


def test_a_slot_is_serialized_once_for_every_reader() -> None:
    shared = SharedIndication(slot_indication())
    feeds = [QueueFeed(frozenset({"node-0"})) for _ in range(8)]
    for i, feed in enumerate(feeds):
        feed.put(shared, f"{i:016d}")
    first = shared.event_bytes()
    payloads = [feed.get_event(0) or b"" for feed in feeds]
    assert shared.event_bytes() is first  # cached: no reader serialized it again
    assert all(p.startswith(first) and len(p) - len(first) <= STAMP_BYTES for p in payloads)


def test_an_unstamped_event_is_the_plain_serialization() -> None:
    ind = slot_indication()
    feed = QueueFeed(frozenset({"node-0"}))
    feed.put(ind)
    assert feed.get_event(0) == pb.SubscriptionEvent(indication=ind).SerializeToString()


def test_a_feed_rings_its_reader_on_put_and_close() -> None:
    rings: list[int] = []
    feed = QueueFeed(frozenset({"node-0"}))
    feed.on_ready(lambda: rings.append(1))
    feed.put(slot_indication())
    feed.close()
    assert len(rings) == 2


def test_a_doorbell_rung_after_close_does_nothing() -> None:
    bell = Doorbell()
    for _ in range(100_000):  # more than a pipe holds: a full bell stays rung, never blocks
        bell.ring()
    bell.clear()
    bell.close()
    bell.ring()
    assert bell.closed


def test_an_indication_queued_as_bytes_reads_as_its_message() -> None:
    ind = slot_indication()
    wire = ind.SerializeToString()
    shared = SharedIndication(wire)
    assert shared.size == len(wire) and shared.body() == wire
    event = shared.event_bytes()
    assert event == pb.SubscriptionEvent(indication=ind).SerializeToString()
    assert shared.body() == wire  # cut from the event once the event holds the bytes
    assert shared.ind == ind
    feed = QueueFeed(frozenset({"node-0"}))
    feed.put(shared, "c" * 16)
    got = feed.get_wire(0)
    assert got is not None and got[0].header.channel_id == "c" * 16
    assert got[0].d2d == ind.d2d and pb.Indication.FromString(got[1]) == got[0]


def test_put_many_queues_and_evicts_as_puts_one_by_one_and_rings_once() -> None:
    items = [(SharedIndication(slot_indication()), None, 100) for _ in range(7)]
    one_by_one, batched = (QueueFeed(frozenset({"node-0"}), capacity=4, max_bytes=350)
                           for _ in range(2))
    rings: list[int] = []
    batched.on_ready(lambda: rings.append(1))
    for shared, channel_id, size in items:
        one_by_one.put(shared, channel_id, size)
    batched.put_many(items)
    assert rings == [1]
    assert (batched.dropped, batched.queued_bytes) == (one_by_one.dropped, one_by_one.queued_bytes)
    assert [batched.get_event(0) for _ in range(4)] == [one_by_one.get_event(0) for _ in range(4)]
