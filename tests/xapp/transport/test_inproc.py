"""The in-process client hands over what decoding the wire bytes would give."""

import dataclasses

import numpy as np

from rrm.core.types import PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_ack, decode_control, decode_indication, parse
from rrm.core.wire.messages import Cause, ControlMsg, Refusal, SubscribeMsg
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.transport.inproc import InProcessClient


def _same(a: object, b: object) -> bool:
    """Dataclasses equal field by field, arrays by value and dtype."""
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def _client(subscribers: int = 1) -> tuple[Simulator, InProcessClient]:
    sim = Simulator([build_node(NodeSpec(num_links=6), f"n{i}", seed=i, slot_period_s=10.0)
                     for i in range(2)], slot_period_s=10.0)
    clients = [InProcessClient(sim) for _ in range(subscribers)]
    for i, client in enumerate(clients):
        client.subscribe(SubscribeMsg("test", transaction_id=f"t{i}"))
    return sim, clients[-1]


def test_indications_and_acks_are_what_their_bytes_decode_to():
    for subscribers in (1, 2):  # one reader: the queued bytes; two: a stamped copy
        sim, client = _client(subscribers)
        sim._publish_slot()
        for _ in range(2):
            got = client.next_indication(0.0)
            assert got is not None and got.indication is not None
            assert _same(got.indication, decode_indication(parse(pb.Indication, got.payload)))
            assert got.payload == got.message.SerializeToString()
            power = PowerAllocation(np.full(6, 1e-3, np.float32))  # the wire carries float64
            for decision in (power, Refusal(Cause.OVERLOAD, "busy")):
                request = ControlMsg(got.header, decision, "test", "1")
                sent = client.send_control(request, 1.0)
                assert decode_control(parse(pb.ControlRequest, sent)).header == got.header
                (event,) = client.poll_acks(0.0)
                assert event.decoded is not None and event.received is not None
                assert _same(event.decoded, decode_ack(parse(pb.ControlAck, event.received)))
            inline = client.control(ControlMsg(got.header, power, "test", "1"), 1.0)
            assert _same(inline.ack, decode_ack(parse(pb.ControlAck, inline.received)))
