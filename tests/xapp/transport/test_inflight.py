"""Pipelined controls: acks matched by (channel, node, seq), lost ones counted, the
bound per node respected, every indication answered once (#18). Fake clock, no timing."""

from collections import Counter

from rrm.core.wire.codec import encode_ack
from rrm.core.wire.messages import (
    AckMsg,
    AppliedSource,
    Cause,
    ControlMsg,
    Header,
    Outcome,
    Refusal,
)
from rrm.xapp.transport.inflight import AckEvent, ControlPipe, key_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Sends nothing anywhere: the test decides which acks come back, and when.
    A poll that finds nothing advances the fake clock by its timeout."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.sent, self.ready = clock, [], []

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        self.sent.append(request)
        return b"sent-" + str(request.header.sequence_number).encode()

    def poll_acks(self, timeout_s: float) -> list[AckEvent]:
        if not self.ready:
            self.clock.now += timeout_s
        out, self.ready = self.ready, []
        return out

    def ack(self, request: ControlMsg, **changes) -> None:
        h = request.header
        header = Header(changes.get("node", h.node_id), h.slot,
                        changes.get("seq", h.sequence_number), h.timestamp_ns, h.deadline_ns,
                        changes.get("channel", h.channel_id))
        wire = encode_ack(AckMsg(header, Outcome.ACCEPTED, AppliedSource.CONTROL)
                          ).SerializeToString()
        self.ready.append(AckEvent((header.channel_id, header.node_id,
                                    header.sequence_number), wire))


def control(node: str, seq: int, channel: str = "c") -> ControlMsg:
    return ControlMsg(Header(node, seq, seq, 0, 0, channel),
                      Refusal(Cause.TIMER_EXPIRED, "test"), "p", "v", "", 0)


def pipe(max_inflight: int = 4):
    clock = Clock()
    client = FakeClient(clock)
    return ControlPipe(client, max_inflight, ack_timeout_s=1.0, clock=clock), client, clock


def test_acks_out_of_order_settle_the_controls_they_answer():
    p, client, _ = pipe()
    sent = [control("n0", 1), control("n1", 1), control("n0", 2)]
    for i, c in enumerate(sent):
        assert p.send(c, i) == []
    for c in reversed(sent):
        client.ack(c)
    settled = p.collect()
    assert [(s.pending.context, s.cause) for s in settled] == [(2, ""), (1, ""), (0, "")]
    assert all(key_of(s.acked.ack) == key_of(s.pending.request) for s in settled)
    assert len(p) == 0


def test_a_lost_ack_is_counted_once_its_deadline_passes_and_never_holds_the_sender():
    p, client, clock = pipe()
    p.send(control("n0", 1), "first")
    clock.now += 0.5
    assert p.collect() == []  # not due yet, and nothing waited for
    assert clock.now == 100.5
    clock.now += 0.5
    [lost] = p.collect()
    assert (lost.pending.context, lost.cause, lost.acked) == ("first", "ack_lost", None)
    assert len(p) == 0


def test_an_ack_after_its_control_was_counted_lost_is_unmatched_and_nothing_is_resent():
    p, client, clock = pipe()
    c = control("n0", 1)
    p.send(c, 0)
    clock.now += 2.0
    assert [s.cause for s in p.collect()] == ["ack_lost"]
    client.ack(c)
    d = control("n0", 2)
    [late] = p.send(d, 1)  # polled with the next control
    assert (late.pending, late.cause) == (None, "ack_unmatched")
    assert client.sent == [c, d]  # one answer per indication, whatever its ack did


def test_an_ack_naming_another_channel_is_rejected_as_such():
    p, client, _ = pipe()
    c = control("n0", 7)
    p.send(c, 0)
    client.ack(c, channel="other")
    [s] = p.collect()
    assert (s.pending.request, s.cause) == (c, "ack_wrong_channel")


def test_the_bound_per_node_waits_for_the_oldest_ack_then_counts_it_lost():
    p, client, clock = pipe(max_inflight=2)
    p.send(control("n0", 1), 1)
    p.send(control("n0", 2), 2)
    p.send(control("n1", 1), 3)  # another node is not held by n0's bound
    assert (p.inflight("n0"), p.inflight("n1")) == (2, 1)
    settled = p.send(control("n0", 3), 4)  # no ack comes: waits until the oldest is due
    assert [(s.pending.context, s.cause) for s in settled][:1] == [(1, "ack_lost")]
    assert p.inflight("n0") <= 2 and clock.now >= 101.0
    assert [c.header.sequence_number for c in client.sent if c.header.node_id == "n0"] == [1, 2, 3]


def test_the_bound_is_released_by_an_ack_without_waiting():
    p, client, clock = pipe(max_inflight=1)
    first = control("n0", 1)
    p.send(first, 1)
    client.ack(first)
    settled = p.send(control("n0", 2), 2)
    assert [(s.pending.context, s.cause) for s in settled] == [(1, "")]
    assert clock.now == 100.0 and p.inflight("n0") == 1


def test_drain_waits_for_the_acks_in_flight_or_counts_them_lost():
    p, client, _ = pipe()
    a, b = control("n0", 1), control("n1", 1)
    p.send(a, "a")
    p.send(b, "b")
    client.ack(b)
    assert Counter(s.cause for s in p.drain()) == Counter({"": 1, "ack_lost": 1})
    p.send(a, "again")
    assert [s.cause for s in p.drain(wait=False)] == ["ack_lost"]


def test_without_pipelining_each_ack_is_awaited_inline():
    class Inline:
        def control(self, request, timeout_s):
            return "acked"

    p = ControlPipe(Inline(), max_inflight=4)  # type: ignore[arg-type]
    [s] = p.send(control("n0", 1), 0)
    assert s.acked == "acked" and not p.pipelined and len(p) == 0
