"""gRPC client of an E2 node: the stream is read by a thread into a bounded queue."""

from __future__ import annotations

import threading

import grpc

from sim.e2 import e2_pb2 as pb
from sim.e2 import e2_pb2_grpc
from sim.e2.codec import (
    decode_ack,
    decode_subscription_reply,
    encode_control,
    encode_subscribe,
)
from sim.e2.freshness import DropOldestQueue
from sim.e2.messages import AckMsg, Cause, ControlMsg, SubscribedMsg, SubscribeMsg
from sim.errors import InvalidInput, ProtocolMismatch
from xapp.transport.base import TransportError

QUEUE_SLOTS = 64  # indications buffered; when full the oldest is dropped (stale CSI)
CONNECT_TIMEOUT_S = 5.0


class GrpcE2Client:
    """:class:`xapp.transport.base.E2Client` over gRPC."""

    def __init__(self, address: str, max_message_bytes: int = 64 << 20) -> None:
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        self.address = address
        self.channel = grpc.insecure_channel(address, options=options)
        self.stub = e2_pb2_grpc.E2NodeStub(self.channel)
        self.queue: DropOldestQueue[pb.Indication] = DropOldestQueue(QUEUE_SLOTS)
        self.broken = ""
        self._stream: grpc.Future | None = None
        self._reader: threading.Thread | None = None

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Open the stream and read its first event (the ack) before returning."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=CONNECT_TIMEOUT_S)
        except grpc.FutureTimeoutError:
            raise TransportError(f"E2 node at {self.address} unreachable") from None
        stream = self.stub.Subscribe(encode_subscribe(request))
        self._stream = stream
        try:
            first = next(stream)
        except (grpc.RpcError, StopIteration) as err:
            raise TransportError(f"subscription stream failed: {_describe(err)}") from None
        reply = decode_subscription_reply(first)
        if not isinstance(reply, SubscribedMsg):
            if reply.cause == Cause.UNSUPPORTED_VERSION:
                raise ProtocolMismatch(reply.detail)
            raise TransportError(f"subscription refused ({reply.cause.name}): {reply.detail}")
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True,
                                        name="e2-grpc-reader")
        self._reader.start()
        return reply

    def _read(self, stream: grpc.Future) -> None:
        try:
            for event in stream:
                if event.WhichOneof("event") == "indication":
                    self.queue.put(event.indication)
            self.broken = "the node ended the subscription"
        except grpc.RpcError as err:
            self.broken = _describe(err)

    def next_indication(self, timeout_s: float) -> pb.Indication | None:
        """Next queued indication; TransportError once the stream broke and is drained."""
        ind = self.queue.get(timeout_s)
        if ind is None and self.broken:
            raise TransportError(self.broken)
        return ind

    def control(self, request: ControlMsg, timeout_s: float) -> AckMsg:
        """Unary Control with a deadline."""
        try:
            ack = self.stub.Control(encode_control(request), timeout=timeout_s)
        except grpc.RpcError as err:
            raise TransportError(f"control failed: {_describe(err)}") from None
        except InvalidInput as err:
            raise TransportError(f"control could not be encoded: {err}") from None
        return decode_ack(ack)

    def close(self) -> None:
        """Cancel the stream and close the channel."""
        if self._stream is not None:
            self._stream.cancel()
        self.channel.close()


def _describe(err: BaseException) -> str:
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()}"  # type: ignore[attr-defined]
    return type(err).__name__
