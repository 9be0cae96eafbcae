"""Which subscription topics some SUB socket listens to, from XPUB's subscription messages.

An XPUB socket reports ``b"\\x01" + prefix`` when a topic prefix gets its
first subscriber and ``b"\\x00" + prefix`` when it loses its last one. A
feed's topic is heard when some listened prefix is a prefix of it.

Peers choose the prefixes, so their number is theirs to make large (a SUB
may listen to thousands of topics the node never opened: the 493 refused
subscriptions of a held-subscription attack). Matching every open topic
against every prefix on every server turn made the node's publishing cost
O(topics x prefixes) a thousand times a second, which starved Control. Here
each open topic keeps a count of the listened prefixes that cover it,
updated once per (un)subscription message, so a turn asks ``heard`` in O(1)
per topic; the prefixes kept are bounded (the oldest that covers no open
topic is forgotten first).
"""

from __future__ import annotations

MAX_PREFIXES = 4096  # prefixes remembered: 8 subscriptions need a handful; the rest is noise


class TopicListeners:
    """Listened topic prefixes and, for each open topic, how many of them cover it."""

    def __init__(self, max_prefixes: int = MAX_PREFIXES) -> None:
        self.max_prefixes = max_prefixes
        self.forgotten = 0  # prefixes dropped because the bound was reached
        self._prefixes: dict[bytes, None] = {}  # insertion-ordered: oldest first
        self._covers: dict[bytes, int] = {}  # open topic -> listened prefixes of it

    @property
    def prefixes(self) -> int:
        """Listened prefixes remembered."""
        return len(self._prefixes)

    def open_topic(self, topic: bytes) -> None:
        """Start tracking ``topic`` (a feed opened); counts the prefixes already listened."""
        if len(topic) < len(self._prefixes):  # cheaper side: the topic's own prefixes
            covers = sum(topic[:i] in self._prefixes for i in range(len(topic) + 1))
        else:
            covers = sum(topic.startswith(p) for p in self._prefixes)
        self._covers[topic] = covers

    def close_topic(self, topic: bytes) -> None:
        """Stop tracking ``topic`` (its feed closed)."""
        self._covers.pop(topic, None)

    def heard(self, topic: bytes) -> bool:
        """True when some listened prefix covers the open ``topic``."""
        return self._covers.get(topic, 0) > 0

    def message(self, msg: bytes) -> None:
        """Apply one XPUB (un)subscription message; anything else is ignored."""
        kind, prefix = msg[:1], msg[1:]
        if kind == b"\x01" and prefix not in self._prefixes:
            self._prefixes[prefix] = None
            self._count(prefix, 1)
            if len(self._prefixes) > self.max_prefixes:
                self._forget_oldest()
        elif kind == b"\x00" and prefix in self._prefixes:
            del self._prefixes[prefix]
            self._count(prefix, -1)

    def _count(self, prefix: bytes, step: int) -> None:
        for topic in self._covers:
            if topic.startswith(prefix):
                self._covers[topic] += step

    def _forget_oldest(self) -> None:
        """Drop the oldest prefix covering no open topic (a live subscriber's is kept)."""
        victim = next((p for p in self._prefixes
                       if not any(t.startswith(p) for t in self._covers)), None)
        if victim is not None:
            del self._prefixes[victim]
            self.forgotten += 1
