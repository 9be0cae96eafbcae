"""TopicListeners: which feed topics are heard, at a cost independent of the peers' prefixes."""

from __future__ import annotations

from rrm.sim.e2.listeners import TopicListeners


class CountingTopic(bytes):
    """A topic that counts the prefix comparisons made against it."""

    calls = 0

    def startswith(self, prefix: object, *args: object) -> bool:  # type: ignore[override]
        CountingTopic.calls += 1
        return super().startswith(prefix, *args)  # type: ignore[arg-type]


def test_a_topic_is_heard_while_some_listened_prefix_covers_it() -> None:
    listeners = TopicListeners()
    listeners.message(b"\x01ab")  # the SUB filter may arrive before the feed opens
    listeners.open_topic(b"abc")
    listeners.open_topic(b"xyz")
    assert listeners.heard(b"abc") and not listeners.heard(b"xyz")
    listeners.message(b"\x01")  # the empty prefix covers every topic
    assert listeners.heard(b"xyz")
    listeners.message(b"\x00")
    listeners.message(b"\x00ab")
    assert not listeners.heard(b"abc") and not listeners.heard(b"xyz")


def test_repeated_and_unknown_messages_change_nothing() -> None:
    listeners = TopicListeners()
    listeners.open_topic(b"t")
    listeners.message(b"\x01t")
    listeners.message(b"\x01t")  # XPUB reports a prefix once; a repeat must not count twice
    listeners.message(b"\x00t")
    listeners.message(b"\x00zz")  # never subscribed
    listeners.message(b"\x02t")  # not a subscription message
    assert not listeners.heard(b"t") and listeners.prefixes == 0


def test_a_closed_topic_is_no_longer_heard() -> None:
    listeners = TopicListeners()
    listeners.message(b"\x01t")
    listeners.open_topic(b"t")
    listeners.close_topic(b"t")
    assert not listeners.heard(b"t")


def test_asking_costs_no_prefix_matching_however_many_prefixes_peers_send() -> None:
    listeners = TopicListeners(max_prefixes=100_000)
    topic = CountingTopic(b"victim-transaction")
    listeners.message(b"\x01victim")
    listeners.open_topic(topic)
    for i in range(20_000):
        listeners.message(b"\x01junk-%d" % i)
    CountingTopic.calls = 0
    assert all(listeners.heard(topic) for _ in range(1000))
    assert CountingTopic.calls == 0


def test_prefixes_are_bounded_and_a_live_subscribers_prefix_is_kept() -> None:
    listeners = TopicListeners(max_prefixes=50)
    listeners.message(b"\x01victim")  # the oldest prefix, but it covers an open topic
    listeners.open_topic(b"victim-1")
    for i in range(1000):
        listeners.message(b"\x01junk-%d" % i)
    assert listeners.prefixes == 50 and listeners.forgotten == 951
    assert listeners.heard(b"victim-1")
