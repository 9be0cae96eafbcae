"""The node's direct serializer and decoder: the codec's bytes and fields, exactly (#18 item 5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rrm.core.errors import InvalidInput
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_control, encode_control, encode_indication
from rrm.core.wire.messages import (
    Cause,
    ControlMsg,
    Header,
    IndicationMsg,
    QosParams,
    Refusal,
)
from rrm.core.wire.node_wire import IndicationWriter, decode_control_lean
from rrm.core.wire.tensor import to_tensor
from rrm.sim.nodes import NodeSpec, build_node

HEADER = Header("node-0", slot=7, sequence_number=8, timestamp_ns=1_764_000_000_000_000_000,
                deadline_ns=1_764_000_000_010_000_000, channel_id="c" * 16)
RNG = np.random.default_rng(0)


def d2d(k: int, qos: QosParams, header: Header = HEADER) -> IndicationMsg:
    gains = RNG.exponential(size=(k, k)) * 1e-9
    return IndicationMsg(header, "d2d", InterferenceState(gains, 4e-14, np.full(k, 0.01)), qos)


@pytest.mark.parametrize("spec", [NodeSpec(num_links=50), NodeSpec(num_links=3),
                                  NodeSpec(scenario="ergodic", num_links=6),
                                  NodeSpec(num_links=6, csi_loss=0.3),
                                  NodeSpec(scenario="cellfree", num_links=4, num_aps=2)])
def test_a_nodes_indications_are_the_codecs_bytes(spec: NodeSpec) -> None:
    node, write = build_node(spec, "node-3", 5, 0.01), IndicationWriter()
    for _ in range(4):
        ind = node.open_slot(channel_id="")
        for channel_id in (None, "", "ab" * 8):
            want = encode_indication(ind)
            if channel_id is not None:
                want.header.channel_id = channel_id
            assert write(ind, channel_id) == want.SerializeToString()
        node.close_slot()


@pytest.mark.parametrize("qos", [QosParams(), QosParams(0.0, -0.0), QosParams(np.nan, 1e300)])
@pytest.mark.parametrize("k", [1, 15, 16, 200])
def test_d2d_edge_values_are_the_codecs_bytes(k: int, qos: QosParams) -> None:
    write = IndicationWriter()
    header = dataclasses.replace(HEADER, timestamp_ns=-5, slot=2**63, node_id="n\u00e9")
    for ind in (d2d(k, qos), d2d(k, qos, header), d2d(k, qos)):  # the tail remembered, or not
        assert write(ind) == encode_indication(ind).SerializeToString()
    fortran = dataclasses.replace(ind, state=dataclasses.replace(
        ind.state, gains=np.asfortranarray(ind.state.gains)))  # type: ignore[type-var]
    assert write(fortran) == encode_indication(fortran).SerializeToString()


def test_a_remembered_tail_tells_minus_zero_from_zero() -> None:
    write = IndicationWriter()
    for qos in (QosParams(0.0, 0.0), QosParams(-0.0, -0.0), QosParams(0.0, 0.0)):
        ind = d2d(4, qos)
        assert write(ind) == encode_indication(ind).SerializeToString()


def assert_same_control(a: ControlMsg, b: ControlMsg) -> None:
    assert dataclasses.replace(a, decision=None) == dataclasses.replace(b, decision=None)
    if isinstance(a.decision, PowerAllocation):
        assert isinstance(b.decision, PowerAllocation)
        assert a.decision.power_w.tobytes() == b.decision.power_w.tobytes()
        assert a.decision.power_w.dtype == b.decision.power_w.dtype
        assert a.decision.power_w.flags.writeable and a.decision.iterations is None
    else:
        assert repr(a.decision) == repr(b.decision)


@pytest.mark.parametrize("decision", [PowerAllocation(RNG.uniform(0, 1e-2, 50)),
                                      PowerAllocation(np.array([np.nan, -1.0])),
                                      PowerAllocation(np.zeros(0)),
                                      Refusal(Cause.UNSUPPORTED_INPUT, "K = 500")])
def test_controls_decode_as_in_the_codec(decision: PowerAllocation | Refusal) -> None:
    m = pb.ControlRequest.FromString(encode_control(ControlMsg(
        HEADER, decision, "gfm", "abc", "guard", 123)).SerializeToString())
    assert_same_control(decode_control_lean(m), decode_control(m))


def malformed() -> list[pb.ControlRequest]:
    out = []
    for arr in (np.ones(4, dtype=np.float32), np.ones((2, 2)), np.ones(3, dtype=np.complex128)):
        m = encode_control(ControlMsg(HEADER, PowerAllocation(np.ones(4)), "p"))
        to_tensor(arr, m.power.power_w)
        out.append(m)
    short = encode_control(ControlMsg(HEADER, PowerAllocation(np.ones(4)), "p"))
    short.power.power_w.data = b"\0" * 31
    headless = encode_control(ControlMsg(HEADER, PowerAllocation(np.ones(4)), "p"))
    headless.ClearField("header")
    return [*out, short, headless, pb.ControlRequest()]


@pytest.mark.parametrize("m", malformed())
def test_malformed_controls_get_the_codecs_answer(m: pb.ControlRequest) -> None:
    try:
        want = decode_control(m)
    except InvalidInput as err:
        with pytest.raises(InvalidInput) as got:
            decode_control_lean(m)
        assert type(got.value) is type(err) and str(got.value) == str(err)
    else:
        assert_same_control(decode_control_lean(m), want)
