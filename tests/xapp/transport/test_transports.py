"""One behaviour over both transports: the same suite runs on gRPC and ZeroMQ."""

import time

import grpc
import numpy as np
import pytest
import zmq

from sim.e2 import e2_pb2 as pb
from sim.e2.codec import decode_indication, parse
from sim.e2.grpc_server import create_grpc_server, stop_grpc_server
from sim.e2.messages import ControlMsg, Outcome, SubscribeMsg
from sim.e2.zmq_server import create_zmq_server
from sim.errors import ProtocolMismatch
from sim.nodes import NodeSpec, build_node
from sim.simulator import Simulator
from sim.types import PowerAllocation
from xapp.transport import connect
from xapp.transport.base import TransportError

K = 6


class Served:
    """A real simulator (lockstep, 20 ms slots) behind one transport."""

    def __init__(self, transport):
        self.transport = transport
        self.sim = Simulator([build_node(NodeSpec(num_links=K), "n0", 1, 0.02)],
                             slot_period_s=0.02, lockstep=True)
        if transport == "grpc":
            self.server, port, self.health = create_grpc_server(self.sim)
            self.address = f"127.0.0.1:{port}"
        else:
            self.server, pub, ctl = create_zmq_server(self.sim)
            self.address = f"127.0.0.1:{pub}:{ctl}"
        self.sim.start()

    def stop(self):
        self.sim.stop()
        if self.transport == "grpc":
            stop_grpc_server(self.server, self.health, grace_s=0)
        else:
            self.server.stop()


@pytest.fixture(params=["grpc", "zmq"])
def served(request):
    s = Served(request.param)
    yield s
    s.stop()


def subscribed(served, transaction="t1"):
    client = connect(served.transport, served.address)
    ack = client.subscribe(SubscribeMsg("test", transaction_id=transaction))
    return client, ack


def answer(client, raw, power=None):
    power = np.full(K, 0.01) if power is None else power
    h = decode_indication(raw).header
    return client.control(ControlMsg(h, PowerAllocation(power), "test"), timeout_s=2.0)


def test_stream_opens_with_the_ack_then_indications_in_order(served):
    client, ack = subscribed(served)
    try:
        assert ack.channel_id and ack.transaction_id == "t1"
        assert [n.node_id for n in ack.nodes] == ["n0"] and ack.nodes[0].num_links == K
        seqs = []
        for _ in range(5):
            raw = client.next_indication(2.0)
            assert raw is not None and raw.header.channel_id == ack.channel_id
            seqs.append(raw.header.sequence_number)
            assert answer(client, raw).outcome == Outcome.ACCEPTED
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
    finally:
        client.close()


def test_control_round_trip_reaches_the_node_and_returns_its_ack(served):
    client, _ = subscribed(served)
    try:
        raw = client.next_indication(2.0)
        ack = answer(client, raw, np.full(K, 0.005))
        assert ack.outcome == Outcome.ACCEPTED and ack.realised
        assert ack.rates.shape == (K,) and ack.utility == pytest.approx(ack.rates.sum())
        again = answer(client, raw)
        assert again.outcome == Outcome.REJECTED and again.cause.name == "DUPLICATE"
        assert served.sim.nodes["n0"].counters["duplicate"] == 1
    finally:
        client.close()


def test_protocol_version_mismatch_is_a_clear_error(served):
    client = connect(served.transport, served.address)
    try:
        with pytest.raises(ProtocolMismatch, match="v1.*v7|v7.*v1"):
            client.subscribe(SubscribeMsg("test", transaction_id="t9", protocol_version=7))
    finally:
        client.close()


def send_garbage(served):
    if served.transport == "grpc":
        channel = grpc.insecure_channel(served.address)
        call = channel.unary_unary("/rrm.e2.v1.E2Node/Control",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        try:
            reply = call(b"\xff\xfe garbage \x00", timeout=2.0)
            return parse(pb.ControlAck, reply)
        except grpc.RpcError:
            return None
        finally:
            channel.close()
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{served.address.rsplit(':', 1)[1]}")
    sock.send_multipart([b"", b"control", b"\xff\xfe garbage \x00"])
    assert sock.poll(2000)
    frames = sock.recv_multipart()
    sock.close()
    return parse(pb.ControlAck, frames[2])


def test_malformed_control_is_counted_refused_and_the_server_survives(served):
    reply = send_garbage(served)
    if reply is not None:
        assert reply.outcome == pb.OUTCOME_REJECTED and reply.cause == pb.CAUSE_INVALID_MESSAGE
        assert served.sim.malformed == 1
    client, _ = subscribed(served, "t2")  # still serving
    try:
        assert answer(client, client.next_indication(2.0)).outcome == Outcome.ACCEPTED
    finally:
        client.close()


def test_node_going_away_raises_transport_error_in_bounded_time(served):
    client, _ = subscribed(served)
    try:
        assert client.next_indication(2.0) is not None
        served.stop()
        start = time.monotonic()
        with pytest.raises(TransportError):
            for _ in range(100):
                raw = client.next_indication(0.2)
                if raw is not None:
                    answer(client, raw)
        assert time.monotonic() - start < 10
    finally:
        client.close()
