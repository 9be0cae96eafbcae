from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProtocolVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTOCOL_VERSION_UNSPECIFIED: _ClassVar[ProtocolVersion]
    PROTOCOL_VERSION_1: _ClassVar[ProtocolVersion]

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT64: _ClassVar[DType]
    DTYPE_COMPLEX64: _ClassVar[DType]
    DTYPE_COMPLEX128: _ClassVar[DType]
    DTYPE_BOOL: _ClassVar[DType]
    DTYPE_INT8: _ClassVar[DType]

class Scenario(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCENARIO_UNSPECIFIED: _ClassVar[Scenario]
    SCENARIO_D2D: _ClassVar[Scenario]
    SCENARIO_CELLFREE: _ClassVar[Scenario]
    SCENARIO_ERGODIC: _ClassVar[Scenario]

class Objective(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECTIVE_UNSPECIFIED: _ClassVar[Objective]
    OBJECTIVE_SUM: _ClassVar[Objective]
    OBJECTIVE_PF: _ClassVar[Objective]
    OBJECTIVE_QOS: _ClassVar[Objective]
    OBJECTIVE_WSR: _ClassVar[Objective]

class Cause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAUSE_UNSPECIFIED: _ClassVar[Cause]
    CAUSE_INVALID_MESSAGE: _ClassVar[Cause]
    CAUSE_TIMER_EXPIRED: _ClassVar[Cause]
    CAUSE_FAILED_TO_EXECUTE: _ClassVar[Cause]
    CAUSE_OVERLOAD: _ClassVar[Cause]
    CAUSE_UNSUPPORTED_VERSION: _ClassVar[Cause]
    CAUSE_UNKNOWN_SUBSCRIPTION: _ClassVar[Cause]
    CAUSE_DUPLICATE: _ClassVar[Cause]
    CAUSE_STALE: _ClassVar[Cause]
    CAUSE_UNSUPPORTED_INPUT: _ClassVar[Cause]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_ACCEPTED: _ClassVar[Outcome]
    OUTCOME_REJECTED: _ClassVar[Outcome]
    OUTCOME_REFUSAL_NOTED: _ClassVar[Outcome]

class AppliedSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLIED_SOURCE_UNSPECIFIED: _ClassVar[AppliedSource]
    APPLIED_SOURCE_CONTROL: _ClassVar[AppliedSource]
    APPLIED_SOURCE_PREVIOUS: _ClassVar[AppliedSource]
    APPLIED_SOURCE_FULL_POWER: _ClassVar[AppliedSource]
PROTOCOL_VERSION_UNSPECIFIED: ProtocolVersion
PROTOCOL_VERSION_1: ProtocolVersion
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT64: DType
DTYPE_COMPLEX64: DType
DTYPE_COMPLEX128: DType
DTYPE_BOOL: DType
DTYPE_INT8: DType
SCENARIO_UNSPECIFIED: Scenario
SCENARIO_D2D: Scenario
SCENARIO_CELLFREE: Scenario
SCENARIO_ERGODIC: Scenario
OBJECTIVE_UNSPECIFIED: Objective
OBJECTIVE_SUM: Objective
OBJECTIVE_PF: Objective
OBJECTIVE_QOS: Objective
OBJECTIVE_WSR: Objective
CAUSE_UNSPECIFIED: Cause
CAUSE_INVALID_MESSAGE: Cause
CAUSE_TIMER_EXPIRED: Cause
CAUSE_FAILED_TO_EXECUTE: Cause
CAUSE_OVERLOAD: Cause
CAUSE_UNSUPPORTED_VERSION: Cause
CAUSE_UNKNOWN_SUBSCRIPTION: Cause
CAUSE_DUPLICATE: Cause
CAUSE_STALE: Cause
CAUSE_UNSUPPORTED_INPUT: Cause
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_ACCEPTED: Outcome
OUTCOME_REJECTED: Outcome
OUTCOME_REFUSAL_NOTED: Outcome
APPLIED_SOURCE_UNSPECIFIED: AppliedSource
APPLIED_SOURCE_CONTROL: AppliedSource
APPLIED_SOURCE_PREVIOUS: AppliedSource
APPLIED_SOURCE_FULL_POWER: AppliedSource

class Tensor(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("protocol_version", "node_id", "channel_id", "slot", "sequence_number", "timestamp_ns", "deadline_ns")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_NS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_NS_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    node_id: str
    channel_id: str
    slot: int
    sequence_number: int
    timestamp_ns: int
    deadline_ns: int
    def __init__(self, protocol_version: _Optional[int] = ..., node_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., slot: _Optional[int] = ..., sequence_number: _Optional[int] = ..., timestamp_ns: _Optional[int] = ..., deadline_ns: _Optional[int] = ...) -> None: ...

class SubscriptionRequest(_message.Message):
    __slots__ = ("protocol_version", "xapp_id", "node_ids", "reporting_period_ms", "objective", "transaction_id")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    XAPP_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    REPORTING_PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    xapp_id: str
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    reporting_period_ms: int
    objective: Objective
    transaction_id: str
    def __init__(self, protocol_version: _Optional[int] = ..., xapp_id: _Optional[str] = ..., node_ids: _Optional[_Iterable[str]] = ..., reporting_period_ms: _Optional[int] = ..., objective: _Optional[_Union[Objective, str]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "scenario", "num_links", "num_aps", "num_antennas", "slot_period_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    NUM_LINKS_FIELD_NUMBER: _ClassVar[int]
    NUM_APS_FIELD_NUMBER: _ClassVar[int]
    NUM_ANTENNAS_FIELD_NUMBER: _ClassVar[int]
    SLOT_PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    scenario: Scenario
    num_links: int
    num_aps: int
    num_antennas: int
    slot_period_ms: int
    def __init__(self, node_id: _Optional[str] = ..., scenario: _Optional[_Union[Scenario, str]] = ..., num_links: _Optional[int] = ..., num_aps: _Optional[int] = ..., num_antennas: _Optional[int] = ..., slot_period_ms: _Optional[int] = ...) -> None: ...

class SubscriptionAck(_message.Message):
    __slots__ = ("channel_id", "transaction_id", "protocol_version", "nodes", "resumed")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    transaction_id: str
    protocol_version: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    resumed: bool
    def __init__(self, channel_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., protocol_version: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., resumed: _Optional[bool] = ...) -> None: ...

class SubscriptionFailure(_message.Message):
    __slots__ = ("cause", "detail", "supported_version")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    cause: Cause
    detail: str
    supported_version: int
    def __init__(self, cause: _Optional[_Union[Cause, str]] = ..., detail: _Optional[str] = ..., supported_version: _Optional[int] = ...) -> None: ...

class D2DCsi(_message.Message):
    __slots__ = ("gains", "noise_w", "pmax_w", "csi_mask", "weights", "r_min", "alpha")
    GAINS_FIELD_NUMBER: _ClassVar[int]
    NOISE_W_FIELD_NUMBER: _ClassVar[int]
    PMAX_W_FIELD_NUMBER: _ClassVar[int]
    CSI_MASK_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    R_MIN_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    gains: Tensor
    noise_w: float
    pmax_w: Tensor
    csi_mask: Tensor
    weights: Tensor
    r_min: float
    alpha: float
    def __init__(self, gains: _Optional[_Union[Tensor, _Mapping]] = ..., noise_w: _Optional[float] = ..., pmax_w: _Optional[_Union[Tensor, _Mapping]] = ..., csi_mask: _Optional[_Union[Tensor, _Mapping]] = ..., weights: _Optional[_Union[Tensor, _Mapping]] = ..., r_min: _Optional[float] = ..., alpha: _Optional[float] = ...) -> None: ...

class CellFreeCsi(_message.Message):
    __slots__ = ("h", "noise_w", "pmax_w", "fronthaul_bps", "bandwidth_hz", "weights")
    H_FIELD_NUMBER: _ClassVar[int]
    NOISE_W_FIELD_NUMBER: _ClassVar[int]
    PMAX_W_FIELD_NUMBER: _ClassVar[int]
    FRONTHAUL_BPS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_HZ_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    h: Tensor
    noise_w: float
    pmax_w: Tensor
    fronthaul_bps: Tensor
    bandwidth_hz: float
    weights: Tensor
    def __init__(self, h: _Optional[_Union[Tensor, _Mapping]] = ..., noise_w: _Optional[float] = ..., pmax_w: _Optional[_Union[Tensor, _Mapping]] = ..., fronthaul_bps: _Optional[_Union[Tensor, _Mapping]] = ..., bandwidth_hz: _Optional[float] = ..., weights: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class ErgodicCsi(_message.Message):
    __slots__ = ("gains", "large_scale", "noise_w", "pmax_w", "f_min", "topology_version", "slot_duration_s")
    GAINS_FIELD_NUMBER: _ClassVar[int]
    LARGE_SCALE_FIELD_NUMBER: _ClassVar[int]
    NOISE_W_FIELD_NUMBER: _ClassVar[int]
    PMAX_W_FIELD_NUMBER: _ClassVar[int]
    F_MIN_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SLOT_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    gains: Tensor
    large_scale: Tensor
    noise_w: float
    pmax_w: Tensor
    f_min: Tensor
    topology_version: int
    slot_duration_s: float
    def __init__(self, gains: _Optional[_Union[Tensor, _Mapping]] = ..., large_scale: _Optional[_Union[Tensor, _Mapping]] = ..., noise_w: _Optional[float] = ..., pmax_w: _Optional[_Union[Tensor, _Mapping]] = ..., f_min: _Optional[_Union[Tensor, _Mapping]] = ..., topology_version: _Optional[int] = ..., slot_duration_s: _Optional[float] = ...) -> None: ...

class Indication(_message.Message):
    __slots__ = ("header", "d2d", "cellfree", "ergodic")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    D2D_FIELD_NUMBER: _ClassVar[int]
    CELLFREE_FIELD_NUMBER: _ClassVar[int]
    ERGODIC_FIELD_NUMBER: _ClassVar[int]
    header: Header
    d2d: D2DCsi
    cellfree: CellFreeCsi
    ergodic: ErgodicCsi
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., d2d: _Optional[_Union[D2DCsi, _Mapping]] = ..., cellfree: _Optional[_Union[CellFreeCsi, _Mapping]] = ..., ergodic: _Optional[_Union[ErgodicCsi, _Mapping]] = ...) -> None: ...

class SubscriptionEvent(_message.Message):
    __slots__ = ("ack", "failure", "indication")
    ACK_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    INDICATION_FIELD_NUMBER: _ClassVar[int]
    ack: SubscriptionAck
    failure: SubscriptionFailure
    indication: Indication
    def __init__(self, ack: _Optional[_Union[SubscriptionAck, _Mapping]] = ..., failure: _Optional[_Union[SubscriptionFailure, _Mapping]] = ..., indication: _Optional[_Union[Indication, _Mapping]] = ...) -> None: ...

class PowerControl(_message.Message):
    __slots__ = ("power_w",)
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    power_w: Tensor
    def __init__(self, power_w: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class BeamformingControl(_message.Message):
    __slots__ = ("v", "x")
    V_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    v: Tensor
    x: Tensor
    def __init__(self, v: _Optional[_Union[Tensor, _Mapping]] = ..., x: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("cause", "detail")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    cause: Cause
    detail: str
    def __init__(self, cause: _Optional[_Union[Cause, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ControlRequest(_message.Message):
    __slots__ = ("header", "power", "beamforming", "refusal", "policy", "model_version", "fallback_reason", "decision_latency_ns")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    BEAMFORMING_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    DECISION_LATENCY_NS_FIELD_NUMBER: _ClassVar[int]
    header: Header
    power: PowerControl
    beamforming: BeamformingControl
    refusal: Refusal
    policy: str
    model_version: str
    fallback_reason: str
    decision_latency_ns: int
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., power: _Optional[_Union[PowerControl, _Mapping]] = ..., beamforming: _Optional[_Union[BeamformingControl, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ..., policy: _Optional[str] = ..., model_version: _Optional[str] = ..., fallback_reason: _Optional[str] = ..., decision_latency_ns: _Optional[int] = ...) -> None: ...

class ControlAck(_message.Message):
    __slots__ = ("header", "outcome", "cause", "detail", "applied_source", "applied_slot", "rates", "utility", "realised")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SOURCE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SLOT_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    UTILITY_FIELD_NUMBER: _ClassVar[int]
    REALISED_FIELD_NUMBER: _ClassVar[int]
    header: Header
    outcome: Outcome
    cause: Cause
    detail: str
    applied_source: AppliedSource
    applied_slot: int
    rates: Tensor
    utility: float
    realised: bool
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., cause: _Optional[_Union[Cause, str]] = ..., detail: _Optional[str] = ..., applied_source: _Optional[_Union[AppliedSource, str]] = ..., applied_slot: _Optional[int] = ..., rates: _Optional[_Union[Tensor, _Mapping]] = ..., utility: _Optional[float] = ..., realised: _Optional[bool] = ...) -> None: ...
