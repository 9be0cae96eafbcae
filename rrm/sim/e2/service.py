"""The transport-independent E2 node service: the contract transports wrap.

Transports (gRPC, ZeroMQ) hold only wire plumbing; they decode requests,
call these pure handlers on domain objects, and encode the answers. The
simulator's node and the trace replayer both implement :class:`NodeService`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.messages import (
    AckMsg,
    ControlMsg,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
)


class IndicationFeed(Protocol):
    """One open subscription's stream of encoded indications."""

    def get(self, timeout_s: float) -> pb.Indication | None:
        """Next indication, or None after ``timeout_s`` without one or once closed."""
        ...

    @property
    def closed(self) -> bool:
        """True once the node ended this subscription (shutdown or replaced)."""
        ...

    def close(self) -> None:
        """Stop delivering (the client went away)."""
        ...


@runtime_checkable
class WakingFeed(IndicationFeed, Protocol):
    """A feed that says when it has something, and hands it already serialized.

    A server that owns its sockets on one thread (ZeroMQ) sleeps until such a
    feed wakes it, and publishes the bytes without a decode/encode round trip;
    other feeds are polled. :class:`rrm.sim.feed.QueueFeed` is one.
    """

    def on_ready(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (any thread) after each queued indication and on close."""
        ...

    def get_event(self, timeout_s: float) -> bytes | None:
        """Next indication as a serialized ``SubscriptionEvent``, or None (as :meth:`get`)."""
        ...


@dataclass
class Subscription:
    """A subscription accepted by a node: its acknowledgement and its feed."""

    ack: SubscribedMsg
    feed: IndicationFeed
    extra: dict[str, object] = field(default_factory=dict)


class NodeService(Protocol):
    """What an E2 node does, independent of the transport."""

    def subscribe(self, request: SubscribeMsg) -> Subscription | SubscriptionFailed:
        """Open (or resume, by transaction id) a subscription, or refuse it."""
        ...

    def control(self, request: ControlMsg) -> AckMsg:
        """Apply (or reject) one control request and say what was applied."""
        ...

    def malformed_control(self, detail: str) -> None:
        """Count a control request that could not be decoded."""
        ...
