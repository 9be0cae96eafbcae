"""Wire codec: round trips, and one-line refusals of malformed messages."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rrm.core.errors import InvalidInput, InvalidMessage
from rrm.core.types import BeamformingAllocation, CellFreeState, InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_ack,
    decode_control,
    decode_indication,
    encode_ack,
    encode_control,
    encode_indication,
    parse,
)
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    ErgodicExtras,
    Header,
    IndicationMsg,
    Outcome,
    QosParams,
    Refusal,
)
from rrm.core.wire.tensor import from_tensor, to_tensor

ROOT = Path(__file__).resolve().parents[3]
HEADER = Header("node-0", slot=7, sequence_number=8, timestamp_ns=1, deadline_ns=2, channel_id="c")
RNG = np.random.default_rng(0)


def d2d_indication(k=5, mask=True):
    gains = RNG.exponential(size=(k, k)) * 1e-9
    state = InterferenceState(gains, 4e-14, np.full(k, 0.01),
                              csi_mask=RNG.random((k, k)) > 0.3 if mask else None,
                              weights=RNG.uniform(size=k))
    return IndicationMsg(HEADER, "d2d", state, QosParams(0.5, 10.0))


def wire_roundtrip(msg, encode, decode, kind):
    return decode(parse(kind, encode(msg).SerializeToString()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128,
                                   np.bool_, np.int8])
def test_tensor_round_trip_keeps_values_shape_and_dtype(dtype):
    a = (RNG.normal(size=(3, 4, 2)) * 3).astype(dtype)
    b = from_tensor(to_tensor(a), "a")
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_tensor_is_little_endian_on_the_wire():
    t = to_tensor(np.array([1.0], dtype=">f8"))
    assert t.data == np.array([1.0], dtype="<f8").tobytes()


def test_tensor_with_wrong_byte_count_is_refused():
    t = to_tensor(np.zeros((2, 2)))
    t.shape[:] = [3, 2]
    with pytest.raises(InvalidInput, match="bytes do not match shape"):
        from_tensor(t, "gains")


def test_d2d_indication_round_trip():
    ind = d2d_indication()
    out = wire_roundtrip(ind, encode_indication, decode_indication, pb.Indication)
    assert out.header == ind.header and out.scenario == "d2d" and out.qos == ind.qos
    np.testing.assert_array_equal(out.state.gains, ind.state.gains)
    np.testing.assert_array_equal(out.state.csi_mask, ind.state.csi_mask)
    np.testing.assert_array_equal(out.state.weights, ind.state.weights)
    np.testing.assert_array_equal(out.state.pmax_w, ind.state.pmax_w)
    assert out.state.noise_w == ind.state.noise_w


def test_ergodic_indication_round_trip():
    k = 4
    state = InterferenceState(RNG.exponential(size=(k, k)), 1e-3, 0.01)
    extras = ErgodicExtras(RNG.exponential(size=(k, k)), np.full(k, 0.6), 3, 0.05)
    out = wire_roundtrip(IndicationMsg(HEADER, "ergodic", state, ergodic=extras),
                         encode_indication, decode_indication, pb.Indication)
    assert out.scenario == "ergodic" and out.ergodic.topology_version == 3
    np.testing.assert_array_equal(out.ergodic.large_scale, extras.large_scale)
    np.testing.assert_array_equal(out.state.pmax_w, np.full(k, 0.01))


def test_cellfree_indication_round_trip():
    h = RNG.normal(size=(3, 4, 2)) + 1j * RNG.normal(size=(3, 4, 2))
    state = CellFreeState(h, 1e-12, np.ones(3), np.full(3, 5e7), 1e7)
    out = wire_roundtrip(IndicationMsg(HEADER, "cellfree", state), encode_indication,
                         decode_indication, pb.Indication)
    np.testing.assert_array_equal(out.state.h, h)
    np.testing.assert_array_equal(out.state.fronthaul_bps, np.full(3, 5e7))


@pytest.mark.parametrize("decision", [
    PowerAllocation(np.array([0.01, 0.0, 0.005])),
    BeamformingAllocation(np.ones((2, 3, 2), complex) * (1 - 1j), np.array([[1, 0, 1], [0, 1, 1]])),
    Refusal(Cause.UNSUPPORTED_INPUT, "K=500 above the limit of 400"),
])
def test_control_round_trip(decision):
    c = ControlMsg(HEADER, decision, "wmmse", "v1", "nan_output", 12345)
    out = wire_roundtrip(c, encode_control, decode_control, pb.ControlRequest)
    assert (out.header, out.policy, out.model_version, out.fallback_reason,
            out.decision_latency_ns) == (HEADER, "wmmse", "v1", "nan_output", 12345)
    if isinstance(decision, Refusal):
        assert out.decision == decision
    elif isinstance(decision, PowerAllocation):
        np.testing.assert_array_equal(out.decision.power_w, decision.power_w)
    else:
        np.testing.assert_array_equal(out.decision.v, decision.v)
        np.testing.assert_array_equal(out.decision.x, decision.x)


def test_ack_round_trip():
    a = AckMsg(HEADER, Outcome.ACCEPTED, Cause.UNSPECIFIED, "", AppliedSource.CONTROL, 8,
               np.array([1.0, 2.0]), 3.0, True)
    out = wire_roundtrip(a, encode_ack, decode_ack, pb.ControlAck)
    assert out.outcome == Outcome.ACCEPTED and out.applied_source == AppliedSource.CONTROL
    assert (out.applied_slot, out.utility, out.realised) == (8, 3.0, True)
    np.testing.assert_array_equal(out.rates, a.rates)


def test_garbage_bytes_are_refused_with_one_line():
    with pytest.raises(InvalidMessage, match="cannot parse Indication"):
        parse(pb.Indication, b"\xff\xff\xff\xff garbage")


def corrupt(mutate):
    m = encode_indication(d2d_indication(mask=False))
    mutate(m)
    return m


@pytest.mark.parametrize("mutate, reason", [
    (lambda m: to_tensor(np.full((5, 5), np.nan), m.d2d.gains), "NaN or Inf"),
    (lambda m: to_tensor(-np.ones((5, 5)), m.d2d.gains), "non-negative"),
    (lambda m: to_tensor(np.ones((5, 4)), m.d2d.gains), "square"),
    (lambda m: to_tensor(np.ones(4), m.d2d.pmax_w), r"pmax_w must be \[5\]"),
    (lambda m: to_tensor(np.zeros(5), m.d2d.pmax_w), "pmax_w must be positive"),
    (lambda m: setattr(m.d2d, "noise_w", float("inf")), "noise_w contains NaN"),
    (lambda m: to_tensor(np.ones((4, 4), bool), m.d2d.csi_mask), "csi_mask must be"),
    (lambda m: m.ClearField("d2d"), "carries no CSI"),
    (lambda m: m.ClearField("header"), "no header"),
    (lambda m: to_tensor(np.zeros((0, 0)), m.d2d.gains), "non-empty"),
])
def test_malformed_indications_are_refused_with_a_reason(mutate, reason):
    with pytest.raises(InvalidMessage, match=reason):
        decode_indication(corrupt(mutate))


def test_generated_code_matches_a_fresh_regeneration(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), str(tmp_path)], check=True)
    for name in ("e2_pb2.py", "e2_pb2.pyi", "e2_pb2_grpc.py"):
        shipped = ROOT / "rrm" / "core" / "wire" / name
        assert (tmp_path / name).read_text() == shipped.read_text(), (
            f"rrm/core/wire/{name} is stale: run python proto/generate.py")


def _one_entry(field: str, flat_index: int, value: float):
    """A mutation putting ``value`` at one entry of the d2d ``field`` tensor."""
    def mutate(m):
        arr = from_tensor(getattr(m.d2d, field), field).astype(np.float64)
        arr.reshape(-1)[flat_index] = value
        to_tensor(arr, getattr(m.d2d, field))
    return mutate


@pytest.mark.parametrize("field, index", [("gains", 0), ("gains", 7), ("gains", 24),
                                          ("gains", 12), ("pmax_w", 0), ("pmax_w", 4)])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_non_finite_entry_anywhere_is_refused(field, index, value):
    """The decoder checks gains and budgets through their extremes: NaN propagates
    through min/max and an infinity is an extreme, wherever the entry sits."""
    with pytest.raises(InvalidMessage, match=f"d2d.{field} contains NaN or Inf"):
        decode_indication(corrupt(_one_entry(field, index, value)))


@pytest.mark.parametrize("field, index, value, reason", [
    ("gains", 6, 0.0, "diagonal"), ("gains", 24, -0.0, "diagonal"),
    ("gains", 1, -1e-30, "non-negative"), ("pmax_w", 3, -1e-9, "pmax_w must be positive"),
    ("pmax_w", 4, 0.0, "pmax_w must be positive"),
])
def test_one_out_of_range_entry_is_refused_with_its_rule(field, index, value, reason):
    with pytest.raises(InvalidMessage, match=reason):
        decode_indication(corrupt(_one_entry(field, index, value)))
