"""The client side of the E2 interface, as every slot-loop component sees it."""

from __future__ import annotations

from typing import Protocol

from sim.e2 import e2_pb2 as pb
from sim.e2.messages import AckMsg, ControlMsg, SubscribedMsg, SubscribeMsg
from sim.errors import RrmError


class TransportError(RrmError):
    """The E2 node is unreachable, went away, or did not answer in time."""


class E2Client(Protocol):
    """A connection to one E2 node service."""

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Open the subscription; ProtocolMismatch / TransportError on failure."""
        ...

    def next_indication(self, timeout_s: float) -> pb.Indication | None:
        """Next indication (None on timeout); TransportError once the stream broke."""
        ...

    def control(self, request: ControlMsg, timeout_s: float) -> AckMsg:
        """Send one control request and wait for its acknowledgement."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
