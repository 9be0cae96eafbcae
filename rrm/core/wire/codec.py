"""Encode and decode the wire messages to and from their domain views.

Decoding validates everything a receiver relies on (shapes consistent with
K, finite values, non-negative gains, positive budgets) and raises
:class:`rrm.core.errors.InvalidMessage` with a one-line reason otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from google.protobuf.message import DecodeError

from rrm.core.errors import InvalidInput, InvalidMessage
from rrm.core.types import BeamformingAllocation, CellFreeState, InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    ErgodicExtras,
    Header,
    IndicationMsg,
    NodeInfo,
    Outcome,
    QosParams,
    Refusal,
    SubscribedMsg,
    SubscribeMsg,
    SubscriptionFailed,
)
from rrm.core.wire.tensor import from_tensor, to_tensor

# Largest accepted gain x budget / noise: 200 dB keeps every rate computation finite in
# float64 (log2(1 + 1e20) = 66 bit/s/Hz) and is far beyond any real link.
MAX_SNR_DB = 200.0


def parse(kind: type[pb.Indication] | type[pb.ControlRequest] | type[pb.ControlAck]
          | type[pb.SubscriptionRequest] | type[pb.SubscriptionEvent], data: bytes):  # noqa: ANN201
    """Parse wire bytes into a protobuf message; garbage -> :class:`InvalidMessage`."""
    msg = kind()
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError) as err:
        raise InvalidMessage(f"cannot parse {kind.__name__}: {err}") from None
    return msg


def header_to_pb(h: Header, out: pb.Header) -> None:
    """Fill ``out`` from ``h``."""
    out.protocol_version = h.protocol_version
    out.node_id = h.node_id
    out.channel_id = h.channel_id
    out.slot = h.slot
    out.sequence_number = h.sequence_number
    out.timestamp_ns = h.timestamp_ns
    out.deadline_ns = h.deadline_ns


def header_from_pb(m: pb.Header) -> Header:
    """Domain header from its wire form."""
    return Header(m.node_id, m.slot, m.sequence_number, m.timestamp_ns, m.deadline_ns,
                  m.channel_id, m.protocol_version)


def _vector(arr: object, k: int, what: str) -> np.ndarray:
    v = np.broadcast_to(np.asarray(arr, dtype=np.float64), (k,))
    return np.ascontiguousarray(v)


def _noise_scalar(noise_w: float | np.ndarray) -> float:
    """The wire's one noise power, W: the mean over receivers (a float is its own mean)."""
    return float(noise_w) if isinstance(noise_w, float) else float(np.asarray(noise_w).mean())


def encode_indication(ind: IndicationMsg) -> pb.Indication:
    """Wire form of an indication."""
    m = pb.Indication()
    header_to_pb(ind.header, m.header)
    s = ind.state
    if ind.scenario == "cellfree":
        assert isinstance(s, CellFreeState)
        c = m.cellfree
        to_tensor(np.asarray(s.h, dtype=np.complex128), c.h)
        c.noise_w = float(s.noise_w)
        to_tensor(np.ascontiguousarray(s.pmax_per_ap), c.pmax_w)
        to_tensor(np.ascontiguousarray(s.fronthaul_per_ap), c.fronthaul_bps)
        c.bandwidth_hz = float(s.bandwidth_hz)
        if s.weights is not None:
            to_tensor(np.asarray(s.weights, dtype=np.float64), c.weights)
        return m
    assert isinstance(s, InterferenceState)
    k = s.num_links
    if ind.scenario == "ergodic":
        assert ind.ergodic is not None
        e, x = m.ergodic, ind.ergodic
        to_tensor(np.asarray(s.gains, dtype=np.float64), e.gains)
        to_tensor(np.asarray(x.large_scale, dtype=np.float64), e.large_scale)
        e.noise_w = _noise_scalar(s.noise_w)
        to_tensor(np.ascontiguousarray(s.pmax_per_link), e.pmax_w)
        to_tensor(_vector(x.f_min, k, "f_min"), e.f_min)
        e.topology_version = x.topology_version
        e.slot_duration_s = x.slot_duration_s
        return m
    d = m.d2d
    to_tensor(np.asarray(s.gains, dtype=np.float64), d.gains)
    d.noise_w = _noise_scalar(s.noise_w)
    to_tensor(np.ascontiguousarray(s.pmax_per_link), d.pmax_w)
    if s.csi_mask is not None:
        to_tensor(np.asarray(s.csi_mask, dtype=bool), d.csi_mask)
    if s.weights is not None:
        to_tensor(np.asarray(s.weights, dtype=np.float64), d.weights)
    d.r_min, d.alpha = ind.qos.r_min, ind.qos.alpha
    return m


_COMPLEX = (pb.DTYPE_COMPLEX64, pb.DTYPE_COMPLEX128)


def _real(t: pb.Tensor, what: str, ndim: int) -> np.ndarray:
    """A real-valued tensor as float64; a complex one is refused, never cut to its real part."""
    if t.dtype in _COMPLEX:
        raise InvalidMessage(f"{what} must be real, got a complex tensor")
    return from_tensor(t, what, ndim=ndim).astype(np.float64, copy=False)  # already a copy


def _check_finite(arr: np.ndarray, what: str, positive: bool = False) -> None:
    if not np.isfinite(arr).all():
        raise InvalidMessage(f"{what} contains NaN or Inf")
    if positive and (arr.real <= 0).any():
        raise InvalidMessage(f"{what} must be positive")


def _check_scalar(value: float, what: str) -> None:
    """A finite, positive wire scalar (noise power): :func:`_check_finite` without numpy."""
    if not math.isfinite(value):
        raise InvalidMessage(f"{what} contains NaN or Inf")
    if value <= 0:
        raise InvalidMessage(f"{what} must be positive")


def _extremes(arr: np.ndarray, what: str) -> tuple[float, float]:
    """Min and max of a non-empty real array; NaN or Inf anywhere is refused.

    One pass each instead of an ``isfinite`` mask: ``min``/``max`` propagate NaN,
    and an infinity is one of the two extremes.
    """
    lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidMessage(f"{what} contains NaN or Inf")
    return lo, hi


def _interference_csi(gains_t: pb.Tensor, noise_w: float, pmax_t: pb.Tensor,
                      what: str) -> tuple[np.ndarray, float, np.ndarray]:
    """Validated ``gains`` [K, K] float64, ``noise_w`` W and ``pmax`` [K] float64 W."""
    gains = _real(gains_t, f"{what}.gains", 2)
    k = gains.shape[0]
    if gains.shape != (k, k) or k == 0:
        raise InvalidMessage(f"{what}.gains must be a non-empty square [K,K], got {gains.shape}")
    gain_lo, gain_hi = _extremes(gains, f"{what}.gains")
    if gain_lo < 0:
        raise InvalidMessage(f"{what}.gains must be non-negative")
    if gains.diagonal().min() <= 0:
        raise InvalidMessage(f"{what}.gains diagonal (direct links) must be positive")
    _check_scalar(noise_w, f"{what}.noise_w")
    pmax = _real(pmax_t, f"{what}.pmax_w", 1)
    if pmax.shape != (k,):
        raise InvalidMessage(f"{what}.pmax_w must be [{k}], got {pmax.shape}")
    pmax_lo, pmax_hi = _extremes(pmax, f"{what}.pmax_w")
    if pmax_lo <= 0:
        raise InvalidMessage(f"{what}.pmax_w must be positive")
    # log domain: the product itself may overflow (every factor is finite and positive)
    snr_db = 10 * float(np.log10(gain_hi) + np.log10(pmax_hi) - np.log10(noise_w))
    if snr_db > MAX_SNR_DB:
        raise InvalidMessage(f"{what}: peak SNR {snr_db:.0f} dB is above {MAX_SNR_DB:.0f} dB: "
                             f"not a physical channel")
    return gains, float(noise_w), pmax


def _decode_d2d(d: pb.D2DCsi, node_id: str) -> tuple[InterferenceState, QosParams]:
    gains, noise_w, pmax = _interference_csi(d.gains, d.noise_w, d.pmax_w, "d2d")
    k = gains.shape[0]
    mask = weights = None
    if d.HasField("csi_mask"):
        mask = from_tensor(d.csi_mask, "d2d.csi_mask", ndim=2).astype(bool)
        if mask.shape != (k, k):
            raise InvalidMessage(f"d2d.csi_mask must be [{k},{k}], got {mask.shape}")
    if d.HasField("weights"):
        weights = _real(d.weights, "d2d.weights", 1)
        if weights.shape != (k,):
            raise InvalidMessage(f"d2d.weights must be [{k}], got {weights.shape}")
        _check_finite(weights, "d2d.weights")
    qos = QosParams(r_min=d.r_min or QosParams.r_min, alpha=d.alpha or QosParams.alpha)
    if not (math.isfinite(qos.r_min) and math.isfinite(qos.alpha)):
        raise InvalidMessage("d2d.r_min/alpha contains NaN or Inf")
    state = InterferenceState(gains, noise_w, pmax, csi_mask=mask, weights=weights,
                              network_id=node_id)
    return state, qos


def _decode_ergodic(e: pb.ErgodicCsi, node_id: str) -> tuple[InterferenceState, ErgodicExtras]:
    gains, noise_w, pmax = _interference_csi(e.gains, e.noise_w, e.pmax_w, "ergodic")
    k = gains.shape[0]
    large = _real(e.large_scale, "ergodic.large_scale", 2)
    f_min = _real(e.f_min, "ergodic.f_min", 1)
    if large.shape != (k, k) or f_min.shape != (k,):
        raise InvalidMessage(f"ergodic.large_scale/f_min must be [{k},{k}]/[{k}]")
    _check_finite(large, "ergodic.large_scale")
    _check_finite(f_min, "ergodic.f_min")
    if np.any(large < 0):
        raise InvalidMessage("ergodic.large_scale must be non-negative")
    extras = ErgodicExtras(large, f_min, int(e.topology_version), float(e.slot_duration_s))
    # the state carries what a time-sharing policy decides a slot from
    state = InterferenceState(gains, noise_w, pmax, large_scale=large, f_min=f_min,
                              topology_version=extras.topology_version, network_id=node_id)
    return state, extras


def _decode_cellfree(c: pb.CellFreeCsi) -> CellFreeState:
    h = from_tensor(c.h, "cellfree.h", ndim=3).astype(np.complex128)
    b, k, m = h.shape
    if min(b, k, m) == 0:
        raise InvalidMessage(f"cellfree.h must be non-empty [B,K,M], got {h.shape}")
    _check_finite(h, "cellfree.h")
    pmax = _real(c.pmax_w, "cellfree.pmax_w", 1)
    cap = _real(c.fronthaul_bps, "cellfree.fronthaul_bps", 1)
    if pmax.shape != (b,) or cap.shape != (b,):
        raise InvalidMessage(f"cellfree.pmax_w and fronthaul_bps must be [{b}]")
    scalars = (np.asarray(c.noise_w), "noise_w"), (np.asarray(c.bandwidth_hz), "bandwidth_hz")
    for arr, what in ((pmax, "pmax_w"), (cap, "fronthaul_bps"), *scalars):
        _check_finite(arr, f"cellfree.{what}", positive=True)
    weights = None
    if c.HasField("weights"):
        weights = _real(c.weights, "cellfree.weights", 1)
        if weights.shape != (k,):
            raise InvalidMessage(f"cellfree.weights must be [{k}], got {weights.shape}")
    return CellFreeState(h, float(c.noise_w), pmax, cap, float(c.bandwidth_hz), weights)


def decode_indication(m: pb.Indication) -> IndicationMsg:
    """Validated domain view of an indication; :class:`InvalidMessage` otherwise."""
    if not m.HasField("header"):
        raise InvalidMessage("indication has no header")
    header = header_from_pb(m.header)
    kind = m.WhichOneof("csi")
    try:
        if kind == "d2d":
            state, qos = _decode_d2d(m.d2d, header.node_id)
            return IndicationMsg(header, "d2d", state, qos)
        if kind == "ergodic":
            state, extras = _decode_ergodic(m.ergodic, header.node_id)
            return IndicationMsg(header, "ergodic", state, ergodic=extras)
        if kind == "cellfree":
            return IndicationMsg(header, "cellfree", _decode_cellfree(m.cellfree))
    except InvalidMessage:
        raise
    except InvalidInput as err:
        raise InvalidMessage(str(err)) from None
    raise InvalidMessage("indication carries no CSI (unknown or missing scenario payload)")


def encode_control(c: ControlMsg) -> pb.ControlRequest:
    """Wire form of a control request."""
    m = pb.ControlRequest(policy=c.policy, model_version=c.model_version,
                          fallback_reason=c.fallback_reason,
                          decision_latency_ns=c.decision_latency_ns)
    header_to_pb(c.header, m.header)
    d = c.decision
    if isinstance(d, Refusal):
        m.refusal.cause = int(d.cause)  # type: ignore[assignment]
        m.refusal.detail = d.detail
    elif isinstance(d, PowerAllocation):
        to_tensor(np.asarray(d.power_w, dtype=np.float64), m.power.power_w)
    else:
        to_tensor(np.asarray(d.v, dtype=np.complex128), m.beamforming.v)
        to_tensor(np.asarray(d.x, dtype=np.int8), m.beamforming.x)
    return m


def decode_control(m: pb.ControlRequest) -> ControlMsg:
    """Domain view of a control request (shapes checked by the node against its CSI)."""
    if not m.HasField("header"):
        raise InvalidMessage("control has no header")
    kind = m.WhichOneof("decision")
    decision: PowerAllocation | BeamformingAllocation | Refusal
    if kind == "power":
        power = _real(m.power.power_w, "power_w", 1)
        decision = PowerAllocation(power)
    elif kind == "beamforming":
        v = from_tensor(m.beamforming.v, "v", ndim=3).astype(np.complex128)
        x = from_tensor(m.beamforming.x, "x", ndim=2).astype(np.int8)
        decision = BeamformingAllocation(v, x)
    elif kind == "refusal":
        cause = m.refusal.cause if m.refusal.cause in Cause._value2member_map_ else 0
        decision = Refusal(Cause(cause), m.refusal.detail)
    else:
        raise InvalidMessage("control carries no decision")
    return ControlMsg(header_from_pb(m.header), decision, m.policy, m.model_version,
                      m.fallback_reason, m.decision_latency_ns)


def encode_ack(a: AckMsg) -> pb.ControlAck:
    """Wire form of a control acknowledgement."""
    m = pb.ControlAck(outcome=int(a.outcome), cause=int(a.cause), detail=a.detail,  # type: ignore[arg-type]
                      applied_source=int(a.applied_source), applied_slot=a.applied_slot,  # type: ignore[arg-type]
                      utility=a.utility, realised=a.realised)
    header_to_pb(a.header, m.header)
    if a.rates is not None:
        to_tensor(np.asarray(a.rates, dtype=np.float64), m.rates)
    return m


def decode_ack(m: pb.ControlAck) -> AckMsg:
    """Domain view of a control acknowledgement."""
    rates = _real(m.rates, "rates", 1) if m.HasField("rates") else None
    outcome = Outcome(m.outcome) if m.outcome in Outcome._value2member_map_ else Outcome.REJECTED
    cause = Cause(m.cause) if m.cause in Cause._value2member_map_ else Cause.UNSPECIFIED
    src = m.applied_source if m.applied_source in AppliedSource._value2member_map_ else 0
    return AckMsg(header_from_pb(m.header), outcome, cause, m.detail, AppliedSource(src),
                  m.applied_slot, rates, m.utility, m.realised)


_SCENARIO_TO_PB = {"d2d": pb.SCENARIO_D2D, "cellfree": pb.SCENARIO_CELLFREE,
                   "ergodic": pb.SCENARIO_ERGODIC}
_SCENARIO_FROM_PB = {v: k for k, v in _SCENARIO_TO_PB.items()}
_OBJECTIVE_TO_PB = {"sum": pb.OBJECTIVE_SUM, "pf": pb.OBJECTIVE_PF, "qos": pb.OBJECTIVE_QOS,
                    "wsr": pb.OBJECTIVE_WSR}
_OBJECTIVE_FROM_PB = {v: k for k, v in _OBJECTIVE_TO_PB.items()}


def encode_subscribe(s: SubscribeMsg) -> pb.SubscriptionRequest:
    """Wire form of a subscription request."""
    return pb.SubscriptionRequest(
        protocol_version=s.protocol_version, xapp_id=s.xapp_id, node_ids=list(s.node_ids),
        reporting_period_ms=s.reporting_period_ms,
        objective=_OBJECTIVE_TO_PB[s.objective],  # type: ignore[arg-type]
        transaction_id=s.transaction_id)


def decode_subscribe(m: pb.SubscriptionRequest) -> SubscribeMsg:
    """Domain view of a subscription request (version checked by the node)."""
    objective = _OBJECTIVE_FROM_PB.get(m.objective, "sum")
    return SubscribeMsg(m.xapp_id, tuple(m.node_ids), objective, m.transaction_id,
                        m.reporting_period_ms, m.protocol_version)


def encode_subscription_event(
    e: SubscribedMsg | SubscriptionFailed | pb.Indication,
) -> pb.SubscriptionEvent:
    """Wrap an ack, a failure or an (already encoded) indication as a stream event."""
    if isinstance(e, pb.Indication):
        return pb.SubscriptionEvent(indication=e)
    if isinstance(e, SubscriptionFailed):
        return pb.SubscriptionEvent(failure=pb.SubscriptionFailure(
            cause=int(e.cause), detail=e.detail,  # type: ignore[arg-type]
            supported_version=e.supported_version))
    nodes = [pb.NodeInfo(node_id=n.node_id,
                         scenario=_SCENARIO_TO_PB[n.scenario],  # type: ignore[arg-type]
                         num_links=n.num_links, num_aps=n.num_aps, num_antennas=n.num_antennas,
                         slot_period_ms=n.slot_period_ms) for n in e.nodes]
    return pb.SubscriptionEvent(ack=pb.SubscriptionAck(
        channel_id=e.channel_id, transaction_id=e.transaction_id,
        protocol_version=e.protocol_version, nodes=nodes, resumed=e.resumed))


def decode_subscription_reply(m: pb.SubscriptionEvent) -> SubscribedMsg | SubscriptionFailed:
    """The first event of a stream: an ack or a failure; anything else is invalid."""
    kind = m.WhichOneof("event")
    if kind == "failure":
        f = m.failure
        cause = Cause(f.cause) if f.cause in Cause._value2member_map_ else Cause.UNSPECIFIED
        return SubscriptionFailed(cause, f.detail, f.supported_version)
    if kind != "ack":
        raise InvalidMessage("subscription stream did not open with an acknowledgement")
    a = m.ack
    nodes = tuple(NodeInfo(n.node_id, _SCENARIO_FROM_PB.get(n.scenario, "d2d"), n.num_links,
                           n.num_aps, n.num_antennas, n.slot_period_ms) for n in a.nodes)
    return SubscribedMsg(a.channel_id, a.transaction_id, nodes, a.resumed, a.protocol_version)
