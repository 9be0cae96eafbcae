"""Property-based hostile input: every wire message is answered, refused with a reason,
or dropped and counted; nothing ever raises out of the xApp's slot loop or the node.

Each generated case is classified (``answered``, ``refused:<cause>``,
``dropped:<reason>``); ``crashed`` would fail the test at once. The tally is
printed at the end of the module (``pytest -s``). Run more cases with
``HYPOTHESIS_PROFILE=fuzz`` or ``bench/fuzz_wire.py``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrm.core.errors import InvalidMessage
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import (
    decode_indication,
    encode_control,
    encode_indication,
    header_to_pb,
    parse,
)
from rrm.core.wire.messages import (
    AckMsg,
    Cause,
    ControlMsg,
    Header,
    IndicationMsg,
    Outcome,
    Refusal,
    SubscribeMsg,
)
from rrm.core.wire.tensor import to_tensor
from rrm.models.policy import make_policy
from rrm.sim.e2.zmq_server import ZmqE2Server
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.logs import configure_logging
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.base import Acked, receive

MAX_LINKS = 12  # the configured K limit in these tests
PMAX_W = 0.01
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
TALLY: Counter[str] = Counter()


class AckingClient:
    """The transport's control side: acks everything, keeps the last control."""

    def __init__(self) -> None:
        self.last = None

    def control(self, request, timeout_s):  # noqa: ANN001, ANN201
        self.last = request
        return Acked(AckMsg(request.header, Outcome.ACCEPTED), b"", b"")


@pytest.fixture(scope="module")
def loop():  # noqa: ANN201
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse", max_iter=20),
                      GuardConfig(max_links=MAX_LINKS), "sum")
    yield SlotLoop(AckingClient(), decider, XAppMetrics(), HealthState())
    decider.close()


@pytest.fixture(scope="module", autouse=True)
def report():  # noqa: ANN201
    configure_logging("error")  # thousands of expected refusals would drown the output
    yield
    total = sum(TALLY.values())
    print(f"\nhostile cases: {total}; " + ", ".join(f"{k}={v}" for k, v in sorted(TALLY.items())))


_channel = iter(range(10**9))


def feed(loop: SlotLoop, data: bytes, channel: str | None = None) -> str:
    """One hostile message through what a transport and the loop do with it; its outcome."""
    try:
        msg = parse(pb.Indication, data)
    except InvalidMessage:
        return _count("dropped:unparseable")
    if channel is not None:
        msg.header.channel_id = channel
    before = sum(loop.stats.dropped.values())
    control = loop.process(receive(msg))  # an exception here fails the test: a crash
    if control is None:
        assert sum(loop.stats.dropped.values()) == before + 1  # dropped AND counted
        return _count("dropped:sequence")
    if isinstance(control.decision, Refusal):
        assert control.decision.detail, "a refusal must carry its reason"
        return _count(f"refused:{control.decision.cause.name.lower()}")
    power = np.asarray(control.decision.power_w)
    pmax = decode_indication(msg).state.pmax_w  # it decoded, since it was answered
    assert np.all(np.isfinite(power)) and np.all(power >= 0)
    assert np.all(power <= np.asarray(pmax) * (1 + 1e-6))
    return _count("answered")


def _count(outcome: str) -> str:
    TALLY[outcome] += 1
    return outcome


def valid(k: int, seq: int = 1, gains: np.ndarray | None = None) -> pb.Indication:
    now = time.time_ns()
    g = np.eye(k) * 1e-9 + 1e-12 if gains is None else gains
    state = InterferenceState(g, 1e-13, np.full(k, PMAX_W))
    return encode_indication(IndicationMsg(Header("n0", seq, seq, now, now + 10**9, "c"),
                                           "d2d", state))


def fresh_channel() -> str:
    return f"ch-{next(_channel)}"


@given(data=st.binary(max_size=4096))
def test_garbage_bytes_are_dropped_or_refused(loop, data):
    assert feed(loop, data, fresh_channel()) != "answered" or len(data) > 0


@given(k=st.integers(1, 6), cuts=st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8))
def test_truncated_and_bit_flipped_messages_never_crash(loop, k, cuts, flips):
    data = bytearray(valid(k).SerializeToString())
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: min(cuts) % (len(data) + 1)] if cuts[0] % 2 else data
    outcome = feed(loop, bytes(data), fresh_channel())
    assert outcome.split(":")[0] in {"answered", "refused", "dropped"}


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, -1e-12, 1e-300, 1e300, 5e-324, float("nan"), float("inf")]),
    st.floats(1e-15, 1e-3))


@st.composite
def hostile_csi(draw):  # noqa: ANN001, ANN201
    """A d2d indication whose arrays may be of any shape, dtype code and value."""
    k = draw(st.integers(1, MAX_LINKS + 4))
    m = valid(k)
    rows = draw(st.sampled_from([k, k, k - 1, k + 1, 0]))
    cols = draw(st.sampled_from([k, k, k + 1, 1]))
    gains = np.array(draw(st.lists(FLOATS, min_size=rows * cols, max_size=rows * cols)),
                     dtype=np.float64).reshape(rows, cols)
    if draw(st.booleans()):  # keep the direct links physical so the other checks are reached
        np.fill_diagonal(gains, 1e-9)
    if rows > 0 and cols > 0:
        to_tensor(gains, m.d2d.gains)
    else:
        m.d2d.gains.ClearField("shape")
        m.d2d.gains.data = b""
    pmax_len = draw(st.sampled_from([k, k, k - 1, k + 1]))
    to_tensor(np.array(draw(st.lists(FLOATS | st.just(PMAX_W), min_size=pmax_len,
                                     max_size=pmax_len)), dtype=np.float64), m.d2d.pmax_w)
    m.d2d.noise_w = draw(FLOATS | st.just(1e-13))
    if draw(st.integers(0, 9)) == 0:
        m.d2d.gains.dtype = draw(st.integers(0, 1000))
    if draw(st.integers(0, 9)) == 0:
        m.d2d.gains.shape[:] = draw(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4))
    return m


@given(m=hostile_csi())
def test_any_csi_is_answered_feasibly_or_refused_with_a_reason(loop, m):
    m.header.channel_id = fresh_channel()
    outcome = feed(loop, m.SerializeToString())
    assert outcome == "answered" or outcome.startswith("refused:")


@given(k=st.integers(1, 3 * MAX_LINKS))
def test_k_up_to_the_limit_is_answered_and_above_it_refused(loop, k):
    outcome = feed(loop, valid(k).SerializeToString(), fresh_channel())
    assert outcome == ("answered" if k <= MAX_LINKS else "refused:unsupported_input")


@given(seqs=st.lists(st.integers(0, 20), min_size=1, max_size=30))
def test_duplicate_and_stale_sequence_numbers_are_dropped_and_counted(loop, seqs):
    channel = fresh_channel()
    outcomes = [feed(loop, valid(3, seq).SerializeToString(), channel) for seq in seqs]
    best = -1
    for seq, outcome in zip(seqs, outcomes, strict=True):
        assert (outcome == "dropped:sequence") == (seq <= best)
        best = max(best, seq)


@given(version=st.integers(0, 2**32 - 1), scenario=st.sampled_from(["d2d", "none", "unknown"]))
def test_future_versions_and_unknown_scenarios_are_refused(loop, version, scenario):
    m = valid(4)
    m.header.protocol_version = version
    if scenario != "d2d":
        m.ClearField("d2d")
    data = m.SerializeToString()
    if scenario == "unknown":  # a CSI kind from a later protocol: field 99, length-delimited
        data += b"\x9a\x06\x02\x08\x01"
    outcome = feed(loop, data, fresh_channel())
    if version != pb.PROTOCOL_VERSION_1:
        assert outcome == "refused:unsupported_version"
    elif scenario != "d2d":
        assert outcome == "refused:invalid_message"
    else:
        assert outcome == "answered"


@st.composite
def other_scenarios(draw):  # noqa: ANN001, ANN201
    """Cell-free and ergodic payloads of arbitrary dimensions to a power-control xApp."""
    m = valid(2)
    m.ClearField("d2d")
    dims = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
    values = np.array(draw(st.lists(FLOATS, min_size=int(np.prod(dims)),
                                    max_size=int(np.prod(dims)))), dtype=np.float64)
    if draw(st.booleans()):
        c = m.cellfree
        to_tensor(values.reshape(dims).astype(np.complex128), c.h)
        b = dims[0]
        to_tensor(np.full(b, draw(FLOATS)), c.pmax_w)
        to_tensor(np.full(b, draw(FLOATS)), c.fronthaul_bps)
        c.noise_w, c.bandwidth_hz = draw(FLOATS), draw(FLOATS)
        if draw(st.integers(0, 4)) == 0:  # a shape whose element count overflows int64
            c.h.shape[:] = [2**22, 2**21, 2**21]
            c.h.data = b""
    else:
        e = m.ergodic
        k = dims[0]
        to_tensor(values.reshape(dims), e.gains)
        to_tensor(np.abs(values).reshape(dims), e.large_scale)
        to_tensor(np.full(k, PMAX_W), e.pmax_w)
        to_tensor(np.full(k, draw(FLOATS)), e.f_min)
        e.noise_w = draw(FLOATS | st.just(1e-13))
    return m


@given(m=other_scenarios())
def test_cellfree_and_ergodic_payloads_of_any_shape_never_crash(loop, m):
    m.header.channel_id = fresh_channel()
    outcome = feed(loop, m.SerializeToString())
    assert outcome == "answered" or outcome.startswith("refused:")


@pytest.fixture(scope="module")
def node_server():  # noqa: ANN201
    """A real simulated node behind the ZeroMQ server's control handler (thread not started)."""
    node = build_node(NodeSpec(num_links=4), "n0", 3, 1.0)
    server = ZmqE2Server(Simulator([node], 1.0), "127.0.0.1", 0, 0, 1 << 20)
    yield node, server
    server.pub.close()
    server.router.close()


@st.composite
def hostile_control(draw, ind: IndicationMsg):  # noqa: ANN001, ANN201
    """A control for the open slot with any header, decision kind and power vector."""
    m = pb.ControlRequest()
    header_to_pb(ind.header, m.header)
    if draw(st.booleans()):
        m.header.node_id = draw(st.sampled_from(["n0", "", "n1", "x" * 300]))
        m.header.sequence_number += draw(st.integers(-3, 3))
        m.header.protocol_version = draw(st.integers(0, 9))
    kind = draw(st.sampled_from(["power", "power", "refusal", "beamforming", "none"]))
    if kind == "power":
        n = draw(st.sampled_from([4, 4, 3, 5, 0]))
        to_tensor(np.array(draw(st.lists(FLOATS | st.floats(0, 0.011), min_size=n, max_size=n)),
                           dtype=np.float64), m.power.power_w)
    elif kind == "refusal":
        m.refusal.cause = draw(st.integers(0, 2**31 - 1))
        m.refusal.detail = draw(st.text(max_size=50))
    elif kind == "beamforming":
        to_tensor(np.ones((1, 4, 2), dtype=np.complex128), m.beamforming.v)
        to_tensor(np.ones((1, 4), dtype=np.int8), m.beamforming.x)
    data = bytearray(m.SerializeToString())
    for pos, value in draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                    max_size=3)):
        data[pos % max(len(data), 1)] = value
    return bytes(data)


@given(data=st.data())
def test_the_node_answers_every_hostile_control_with_an_ack(node_server, data):
    node, server = node_server
    ind = node.open_slot()
    try:
        ack = server._control(data.draw(hostile_control(ind)))
    finally:
        node.close_slot()
    outcome = Outcome(ack.outcome)
    assert outcome != Outcome.REJECTED or ack.cause != Cause.UNSPECIFIED  # a reason, always
    _count(f"node:{outcome.name.lower()}")


def test_the_node_still_accepts_a_sound_control_after_the_hostile_ones(node_server):
    node, server = node_server
    sub = server.service.subscribe(SubscribeMsg("sound", transaction_id="sound"))
    ind = node.open_slot()  # a sound control answers an open subscription (#19 item 8)
    header = dataclasses.replace(ind.header, channel_id=sub.ack.channel_id)
    ctl = encode_control(ControlMsg(header, PowerAllocation(np.full(4, 0.001)), "t", "v"))
    assert server._control(ctl.SerializeToString()).outcome == Outcome.ACCEPTED
    node.close_slot()


def test_fresh_channel_and_node_ids_per_message_do_not_grow_memory(monkeypatch):
    import rrm.xapp.loop as loop_module
    import rrm.xapp.metrics as metrics_module

    monkeypatch.setattr(loop_module, "MAX_TRACKED_STREAMS", 50)
    monkeypatch.setattr(metrics_module, "MAX_NODE_LABELS", 20)
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse", max_iter=5),
                      GuardConfig(max_links=MAX_LINKS), "sum")
    metrics = XAppMetrics()
    slot_loop = SlotLoop(AckingClient(), decider, metrics, HealthState())
    for i in range(300):
        m = valid(2, seq=1)
        m.header.channel_id, m.header.node_id = f"c{i}", f"node-{i}" * 20
        assert slot_loop.process(receive(m)) is not None  # fresh stream: answered
    decider.close()
    assert len(slot_loop._last_seq) == 50
    labels = {s.labels["node"] for s in metrics.indications.collect()[0].samples}
    assert len(labels) == 21 and "other" in labels and max(map(len, labels)) <= 64
