"""A hostile xApp against the simulator's E2 node, written from the proto.

Built only on the generated stubs (``rrm.core.wire.e2_pb2*``), grpc and
pyzmq: nothing of ``rrm.xapp.transport`` or the codec, so the node is judged
from outside, as a peer would see it. Used by tests/sim/test_node_attacks.py
(small sizes) and bench/attack_node.py (full sizes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import numpy as np
import zmq

from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire import e2_pb2_grpc

MAX_BYTES = 64 << 20


def power_tensor(power: np.ndarray) -> pb.Tensor:
    """A float64 ``[K]`` tensor as the proto defines it (little-endian bytes)."""
    arr = np.ascontiguousarray(power, dtype="<f8")
    return pb.Tensor(shape=list(arr.shape), dtype=pb.DTYPE_FLOAT64, data=arr.tobytes())


def control_request(header: pb.Header, power: np.ndarray | pb.Tensor) -> pb.ControlRequest:
    """A power control echoing ``header`` (which the caller may have tampered with)."""
    tensor = power if isinstance(power, pb.Tensor) else power_tensor(power)
    req = pb.ControlRequest(policy="attacker", model_version="x")
    req.header.CopyFrom(header)
    req.power.power_w.CopyFrom(tensor)
    return req


def subscription_request(transaction_id: str = "", xapp_id: str = "attacker",
                         version: int = pb.PROTOCOL_VERSION_1) -> pb.SubscriptionRequest:
    """Subscribe to every node of the service."""
    return pb.SubscriptionRequest(protocol_version=version, xapp_id=xapp_id,
                                  transaction_id=transaction_id or uuid.uuid4().hex)


def modest_power(ind: pb.Indication) -> np.ndarray:
    """1 % of each link's budget: always within the node's rules."""
    pmax = np.frombuffer(ind.d2d.pmax_w.data, dtype="<f8" if ind.d2d.pmax_w.dtype
                         == pb.DTYPE_FLOAT64 else "<f4")
    return 0.01 * pmax.astype(float)


class GrpcAttacker:
    """Raw gRPC peer: every call has a deadline; ``peers`` channels = connections."""

    def __init__(self, address: str, peers: int = 1) -> None:
        opts = [("grpc.max_receive_message_length", MAX_BYTES),
                ("grpc.max_send_message_length", MAX_BYTES),
                ("grpc.use_local_subchannel_pool", 1)]  # one connection per channel
        self.channels = [grpc.insecure_channel(address, options=opts) for _ in range(peers)]
        self.stubs = [e2_pb2_grpc.E2NodeStub(c) for c in self.channels]
        self.calls: list[grpc.Future] = []

    def subscribe(self, peer: int = 0, timeout_s: float = 10.0,
                  **kw: str) -> tuple[pb.SubscriptionEvent, Iterator[pb.SubscriptionEvent]]:
        """Open a stream; return its first event (ack or failure) and the stream."""
        call = self.stubs[peer].Subscribe(subscription_request(**kw), timeout=timeout_s)
        self.calls.append(call)
        return next(call), call

    def hold(self, count: int, stream_timeout_s: float = 600.0) -> list[pb.SubscriptionEvent]:
        """Open ``count`` streams spread over the peers, read their first event, never more."""
        firsts = []
        for i in range(count):
            first, _ = self.subscribe(i % len(self.stubs), timeout_s=stream_timeout_s)
            firsts.append(first)
        return firsts

    def control(self, req: pb.ControlRequest, peer: int = 0,
                timeout_s: float = 5.0) -> pb.ControlAck:
        """One Control call with a deadline."""
        return self.stubs[peer].Control(req, timeout=timeout_s)

    def close(self) -> None:
        """Cancel every stream and drop the connections."""
        for call in self.calls:
            call.cancel()
        for c in self.channels:
            c.close()


class ZmqAttacker:
    """Raw ZeroMQ peer: ``peers`` DEALER sockets (one routing identity each), one SUB."""

    def __init__(self, host: str, pub_port: int, ctl_port: int, peers: int = 1) -> None:
        self.ctx = zmq.Context()
        self.dealers = []
        for _ in range(peers):
            d = self.ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)
            d.connect(f"tcp://{host}:{ctl_port}")
            self.dealers.append(d)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect(f"tcp://{host}:{pub_port}")

    def request(self, kind: bytes, payload: bytes, peer: int = 0,
                timeout_s: float = 5.0) -> bytes | None:
        """Send one request; its reply payload, or None after ``timeout_s``."""
        d = self.dealers[peer]
        d.send_multipart([b"", kind, payload])
        if not d.poll(int(timeout_s * 1000)):
            return None
        return d.recv_multipart()[-1]

    def subscribe(self, peer: int = 0, listen: bool = True, **kw: str) -> pb.SubscriptionEvent:
        """Subscribe (and listen to its topic on the SUB socket when ``listen``)."""
        req = subscription_request(**kw)
        if listen:
            self.sub.setsockopt(zmq.SUBSCRIBE, req.transaction_id.encode())
        reply = self.request(b"subscribe", req.SerializeToString(), peer)
        if reply is None:
            raise TimeoutError("no subscription reply within the deadline")
        return pb.SubscriptionEvent.FromString(reply)

    def next_indication(self, timeout_s: float = 5.0) -> pb.Indication | None:
        """The next indication on any listened topic, or None after ``timeout_s``."""
        if not self.sub.poll(int(timeout_s * 1000)):
            return None
        return pb.SubscriptionEvent.FromString(self.sub.recv_multipart()[-1]).indication

    def control(self, req: pb.ControlRequest, peer: int = 0,
                timeout_s: float = 5.0) -> pb.ControlAck | None:
        """One control; its ack or None after ``timeout_s``."""
        reply = self.request(b"control", req.SerializeToString(), peer, timeout_s)
        return None if reply is None else pb.ControlAck.FromString(reply)

    def close(self) -> None:
        """Close every socket and the context."""
        for s in [*self.dealers, self.sub]:
            s.close()
        self.ctx.term()
