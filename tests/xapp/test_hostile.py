"""Hostile indications get a reasoned refusal or are dropped and counted; nothing crashes."""

import time

import numpy as np
import pytest

from rrm.core.types import InterferenceState
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import encode_indication
from rrm.core.wire.messages import AckMsg, Cause, Header, IndicationMsg, Outcome, Refusal
from rrm.core.wire.tensor import to_tensor
from rrm.models.policy import make_policy
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.base import Acked, receive

K = 6


class RecordingClient:
    """Stands in for the transport: keeps what the loop sends, acks everything."""

    def __init__(self):
        self.sent = []

    def control(self, request, timeout_s):
        self.sent.append(request)
        return Acked(AckMsg(request.header, Outcome.ACCEPTED), b"", b"")


def make_loop(max_links=50):
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse", max_iter=30),
                      GuardConfig(max_links=max_links), "sum")
    client = RecordingClient()
    return SlotLoop(client, decider, XAppMetrics(), HealthState()), client


def indication(seq, k=K, gains=None):
    now = time.time_ns()
    g = np.eye(k) * 1e-9 + 1e-12 if gains is None else gains
    msg = encode_indication(IndicationMsg(Header("n0", seq, seq, now, now + 10**9, "c"), "d2d",
                                          InterferenceState(g, 1e-13, np.full(k, 0.01))))
    return msg


def hostile(kind):
    m = indication(1)
    if kind == "nan":
        to_tensor(np.full((K, K), np.nan), m.d2d.gains)
    elif kind == "inf_noise":
        m.d2d.noise_w = float("inf")
    elif kind == "negative":
        to_tensor(-np.ones((K, K)), m.d2d.gains)
    elif kind == "wrong_size":
        m.d2d.gains.data = m.d2d.gains.data[:-8]
    elif kind == "k_mismatch":
        to_tensor(np.ones(K + 1) * 0.01, m.d2d.pmax_w)
    elif kind == "zero_diagonal":
        to_tensor(np.zeros((K, K)), m.d2d.gains)
    elif kind == "no_payload":
        m.ClearField("d2d")
    elif kind == "huge_k":
        return indication(1, k=60)
    elif kind == "extreme_range":
        g = np.full((K, K), 1e-300)
        np.fill_diagonal(g, 1e300)
        to_tensor(g, m.d2d.gains)
    return m


@pytest.mark.parametrize("kind, cause", [
    ("nan", Cause.INVALID_MESSAGE), ("inf_noise", Cause.INVALID_MESSAGE),
    ("negative", Cause.INVALID_MESSAGE), ("wrong_size", Cause.INVALID_MESSAGE),
    ("k_mismatch", Cause.INVALID_MESSAGE), ("zero_diagonal", Cause.INVALID_MESSAGE),
    ("no_payload", Cause.INVALID_MESSAGE), ("huge_k", Cause.UNSUPPORTED_INPUT),
    ("extreme_range", Cause.INVALID_MESSAGE),
])
def test_hostile_indication_gets_a_reasoned_refusal(kind, cause):
    loop, client = make_loop()
    loop.process(receive(hostile(kind)))
    (sent,) = client.sent
    assert isinstance(sent.decision, Refusal) and sent.decision.cause == cause
    assert sent.decision.detail and loop.stats.refusals == 1
    loop.process(receive(indication(2)))  # and the loop carries on
    assert loop.stats.controls == 1


def test_wide_but_physical_dynamic_range_is_answered_with_a_finite_allocation():
    loop, client = make_loop()
    g = np.full((K, K), 1e-30)
    np.fill_diagonal(g, 1e-3)  # 170 dB between direct and cross links
    loop.process(receive(indication(1, gains=g)))
    power = client.sent[0].decision.power_w
    assert np.all(np.isfinite(power)) and np.all((power >= 0) & (power <= 0.01))


def test_duplicate_and_stale_sequence_numbers_are_dropped_and_counted():
    loop, client = make_loop()
    for seq in (5, 5, 3, 6):
        loop.process(receive(indication(seq)))
    assert [c.header.sequence_number for c in client.sent] == [5, 6]
    assert loop.stats.dropped == {"duplicate": 1, "stale": 1}


def test_an_indication_past_its_deadline_is_refused_at_once():
    loop, client = make_loop()
    m = indication(1)
    m.header.deadline_ns = time.time_ns() - 10**6
    loop.process(receive(m))
    assert client.sent[0].decision.cause == Cause.TIMER_EXPIRED


def test_random_garbage_never_crashes_the_decoder_path():
    loop, client = make_loop()
    rng = np.random.default_rng(0)
    base = indication(1).SerializeToString()
    for i in range(300):
        data = bytearray(base)
        for pos in rng.integers(0, len(data), size=5):
            data[pos] = rng.integers(0, 256)
        m = pb.Indication()
        try:
            m.ParseFromString(bytes(data))
        except Exception:  # protobuf refuses it before the xApp sees it
            continue
        m.header.sequence_number = i + 10
        m.header.deadline_ns = time.time_ns() + 10**9
        loop.process(receive(m))
    assert loop.stats.slots == loop.stats.controls + loop.stats.refusals
    assert loop.stats.slots > 100
