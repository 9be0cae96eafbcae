"""Domain views of the wire messages (no protobuf types leak past the codec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from rrm.core.types import Allocation, State
from rrm.core.wire import e2_pb2 as pb

PROTOCOL_VERSION = pb.PROTOCOL_VERSION_1


class Cause(IntEnum):
    """Typed failure causes (wire enum ``Cause``)."""

    UNSPECIFIED = pb.CAUSE_UNSPECIFIED
    INVALID_MESSAGE = pb.CAUSE_INVALID_MESSAGE
    TIMER_EXPIRED = pb.CAUSE_TIMER_EXPIRED
    FAILED_TO_EXECUTE = pb.CAUSE_FAILED_TO_EXECUTE
    OVERLOAD = pb.CAUSE_OVERLOAD
    UNSUPPORTED_VERSION = pb.CAUSE_UNSUPPORTED_VERSION
    UNKNOWN_SUBSCRIPTION = pb.CAUSE_UNKNOWN_SUBSCRIPTION
    DUPLICATE = pb.CAUSE_DUPLICATE
    STALE = pb.CAUSE_STALE
    UNSUPPORTED_INPUT = pb.CAUSE_UNSUPPORTED_INPUT


class Outcome(IntEnum):
    """What the node did with a control (wire enum ``Outcome``)."""

    ACCEPTED = pb.OUTCOME_ACCEPTED
    REJECTED = pb.OUTCOME_REJECTED
    REFUSAL_NOTED = pb.OUTCOME_REFUSAL_NOTED


class AppliedSource(IntEnum):
    """Which allocation a node applied in a slot (wire enum ``AppliedSource``)."""

    UNSPECIFIED = pb.APPLIED_SOURCE_UNSPECIFIED
    CONTROL = pb.APPLIED_SOURCE_CONTROL
    PREVIOUS = pb.APPLIED_SOURCE_PREVIOUS
    FULL_POWER = pb.APPLIED_SOURCE_FULL_POWER


@dataclass(frozen=True)
class Header:
    """Message header; times are wall-clock nanoseconds since the epoch."""

    node_id: str
    slot: int
    sequence_number: int
    timestamp_ns: int
    deadline_ns: int
    channel_id: str = ""
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class QosParams:
    """QoS parameters that travel with d2d CSI (bit/s/Hz, dimensionless)."""

    r_min: float = 0.3
    alpha: float = 15.0


@dataclass(frozen=True)
class ErgodicExtras:
    """Ergodic-network fields beyond the slot's gains."""

    large_scale: NDArray[np.float64]  # [K, K] linear power gain
    f_min: NDArray[np.float64]  # [K] bit/s/Hz
    topology_version: int
    slot_duration_s: float


@dataclass(frozen=True)
class IndicationMsg:
    """One slot's CSI report: ``scenario`` is 'd2d', 'cellfree' or 'ergodic'."""

    header: Header
    scenario: str
    state: State
    qos: QosParams = field(default_factory=QosParams)
    ergodic: ErgodicExtras | None = None


@dataclass(frozen=True)
class Refusal:
    """An explicit 'no decision' with its reason."""

    cause: Cause
    detail: str


@dataclass(frozen=True)
class ControlMsg:
    """The xApp's answer to one indication: an allocation or a refusal."""

    header: Header
    decision: Allocation | Refusal
    policy: str = ""
    model_version: str = ""
    fallback_reason: str = ""
    decision_latency_ns: int = 0


@dataclass(frozen=True)
class AckMsg:
    """The node's acknowledgement of a control, with what it applied."""

    header: Header
    outcome: Outcome
    cause: Cause = Cause.UNSPECIFIED
    detail: str = ""
    applied_source: AppliedSource = AppliedSource.UNSPECIFIED
    applied_slot: int = 0
    rates: NDArray[np.float64] | None = None
    utility: float = 0.0
    realised: bool = False


@dataclass(frozen=True)
class NodeInfo:
    """What a node is: scenario and sizes (K links/UEs, B APs, M antennas)."""

    node_id: str
    scenario: str
    num_links: int
    num_aps: int = 0
    num_antennas: int = 0
    slot_period_ms: int = 10


@dataclass(frozen=True)
class SubscribeMsg:
    """An xApp's subscription request."""

    xapp_id: str
    node_ids: tuple[str, ...] = ()
    objective: str = "sum"
    transaction_id: str = ""
    reporting_period_ms: int = 0
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class SubscribedMsg:
    """The node's acknowledgement that opens every subscription stream."""

    channel_id: str
    transaction_id: str
    nodes: tuple[NodeInfo, ...]
    resumed: bool = False
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class SubscriptionFailed:
    """A refused subscription, with a typed cause."""

    cause: Cause
    detail: str
    supported_version: int = PROTOCOL_VERSION


def version_refusal(client_version: int) -> SubscriptionFailed | None:
    """The failure a node answers to a subscription in another protocol version, else None.

    The one place the node side decides protocol compatibility (every
    transport and the simulator call it).
    """
    if client_version == PROTOCOL_VERSION:
        return None
    return SubscriptionFailed(Cause.UNSUPPORTED_VERSION,
                              f"node speaks protocol v{PROTOCOL_VERSION}, "
                              f"xApp sent v{client_version}")
