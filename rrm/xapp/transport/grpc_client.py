"""gRPC client of an E2 node: the stream is read by a thread into a bounded queue.

``subscribe`` waits for the channel (``CONNECT_TIMEOUT_S``), opens the
server-streaming Subscribe and starts the receive thread, which hands the
first event (the ack or the failure) to ``subscribe`` and then moves every
indication, screened against the size limits, into a drop-oldest queue
bounded by count and bytes that ``next_indication`` reads. ``subscribe``
waits for that first event at most ``SUBSCRIBE_TIMEOUT_S`` (then cancels the
stream); a stream silent for ``SilenceWatch`` s counts as broken, as over
ZeroMQ. ``control`` is a unary
call with the caller's deadline. With channel ``credentials`` the channel is
TLS (mutual TLS when they hold a client certificate); a node whose
certificate the CA does not verify, or that refuses ours, never becomes
ready and ``subscribe`` raises :class:`TransportError`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rrm.core.errors import InvalidInput
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire import e2_pb2_grpc
from rrm.core.wire.codec import decode_subscription_reply, encode_subscribe
from rrm.core.wire.freshness import DropOldestQueue
from rrm.core.wire.messages import ControlMsg, SubscribedMsg, SubscribeMsg
from rrm.xapp.transport.base import (
    QUEUE_BYTES,
    QUEUE_SLOTS,
    SUBSCRIBE_TIMEOUT_S,
    Acked,
    Arrival,
    Received,
    SilenceWatch,
    TransportError,
    acked,
    arrival,
    control_bytes,
    opened,
    receive,
    wait_steps,
)
from rrm.xapp.transport.inflight import AckEvent, AckKey, key_of
from rrm.xapp.transport.screen import SizeLimits

log = structlog.get_logger("rrm.xapp.grpc")
CONNECT_TIMEOUT_S = 5.0  # how long subscribe waits for the node to accept a connection
SERVICE_NAME = "rrm.e2.v1.E2Node"  # as registered with the node's health service
CONTROL_METHOD = f"/{SERVICE_NAME}/Control"
GRPC_POLL_S = 0.25  # grpc's connectivity poll period (0.2 s in grpcio 1.85), with a margin
RECONNECT_BACKOFF_MS = (100, 1000)  # gRPC channel's connection retry backoff: first, most


class GrpcE2Client:
    """:class:`rrm.xapp.transport.base.E2Client` over gRPC (address "host:port")."""

    def __init__(self, address: str, max_message_bytes: int = 64 << 20,
                 queue_slots: int = QUEUE_SLOTS,
                 credentials: grpc.ChannelCredentials | None = None,
                 limits: SizeLimits | None = None, queue_bytes: int = QUEUE_BYTES,
                 subscribe_timeout_s: float = SUBSCRIBE_TIMEOUT_S) -> None:
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes),
                   # gRPC's own reconnect backoff (1 s growing to 120 s) would hide a node
                   # that came back; the xApp's backoff (reconnect_*_s) paces retries instead
                   ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
                   ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
                   ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1])]
        self.address = address
        self.secure = credentials is not None
        self.channel = (grpc.secure_channel(address, credentials, options=options)
                        if credentials is not None
                        else grpc.insecure_channel(address, options=options))
        self.stub = e2_pb2_grpc.E2NodeStub(self.channel)
        # Control as bytes in and out: the loop records exactly what was sent and received
        self._control = self.channel.unary_unary(CONTROL_METHOD)
        self.limits = limits or SizeLimits()
        self.subscribe_timeout_s = subscribe_timeout_s
        self.abandon: threading.Event | None = None  # set: connect/subscribe waits give up
        self._ready_cancelled = -1.0  # when a connect wait was last given up (monotonic s)
        self.queue: DropOldestQueue[Arrival] = DropOldestQueue(queue_slots, queue_bytes)
        self.superseded = 0  # indications left queued when the client was closed
        self.broken = ""  # why the stream ended; empty while it is open
        self.silence = SilenceWatch()
        self._stream: grpc.Future | None = None
        self._reader: threading.Thread | None = None
        # completed pipelined Control calls (filled by gRPC's callback threads)
        self._acks: queue.SimpleQueue[AckEvent] = queue.SimpleQueue()

    @property
    def dropped(self) -> int:
        """Indications evicted unread because the queue was full."""
        return self.queue.dropped

    def drops(self) -> Counter[str]:
        """Indications lost before the loop saw them, by cause."""
        return Counter({"queue_full": self.queue.dropped, "superseded": self.superseded})

    def subscribe(self, request: SubscribeMsg) -> SubscribedMsg:
        """Open the stream and read its first event (the ack) before returning."""
        self._cancel_stream()
        self._await_channel()
        self.broken = ""
        stream = self.stub.Subscribe(encode_subscribe(request))
        self._stream = stream
        first: queue.Queue[pb.SubscriptionEvent | BaseException] = queue.Queue(maxsize=1)
        self._reader = threading.Thread(target=self._read, args=(stream, first), daemon=True,
                                        name="e2-grpc-reader")
        self._reader.start()
        try:
            event = self._first_event(first)
            if isinstance(event, BaseException):
                raise event
            reply = opened(decode_subscription_reply(event), request)
        except (grpc.RpcError, StopIteration, InvalidInput) as err:
            self._cancel_stream()
            raise TransportError(f"subscription stream failed: {_describe(err)}") from None
        except BaseException:
            self._cancel_stream()
            raise
        self.silence.start(reply)
        return reply

    def _await_channel(self) -> None:
        """Wait for the node to accept the connection (CONNECT_TIMEOUT_S at most)."""
        ready = grpc.channel_ready_future(self.channel)
        try:
            for step in wait_steps(CONNECT_TIMEOUT_S, self.abandon):
                try:
                    ready.result(timeout=step)
                    return
                except grpc.FutureTimeoutError:
                    continue
        finally:
            if ready.cancel():  # given up (stop, timeout): grpc's poll thread still runs
                self._ready_cancelled = time.monotonic()
        hint = " (or the TLS handshake failed: check tls_* files)" if self.secure else ""
        raise TransportError(f"E2 node at {self.address} unreachable "
                             f"within {CONNECT_TIMEOUT_S:.1f} s{hint}")

    def _first_event(self, first: queue.Queue[pb.SubscriptionEvent | BaseException]
                     ) -> pb.SubscriptionEvent | BaseException:
        """The stream's first event (the ack), within ``subscribe_timeout_s``."""
        for step in wait_steps(self.subscribe_timeout_s, self.abandon):
            try:
                return first.get(timeout=step)
            except queue.Empty:
                continue
        raise TransportError(f"no subscription reply from {self.address} within "
                             f"{self.subscribe_timeout_s:.1f} s")

    def _read(self, stream: grpc.Future,
              first: queue.Queue[pb.SubscriptionEvent | BaseException]) -> None:
        """Receive loop: the first event -> ``first``; indications -> queue, screened."""
        opening = True
        try:
            for event in stream:
                if opening:
                    first.put(event)
                    opening = False
                elif event.WhichOneof("event") == "indication":
                    self.silence.heard()
                    item = arrival(event.indication, event.indication.ByteSize(), self.limits)
                    self.queue.put(item, item.nbytes)
            self.broken = "the node ended the subscription"
            if opening:
                first.put(StopIteration())
        except grpc.RpcError as err:
            self.broken = f"subscription stream broke: {_describe(err)}"
            if opening:
                first.put(err)
        log.info("e2_stream_ended", address=self.address, reason=self.broken)

    def next_indication(self, timeout_s: float) -> Received | None:
        """Next queued indication; TransportError once the stream broke (or stayed
        silent too long) and the queue is drained."""
        ind = self.queue.get(timeout_s)
        if ind is not None:
            return receive(ind)
        if self.broken:
            raise TransportError(self.broken)
        self.silence.check()
        return None

    def control(self, request: ControlMsg, timeout_s: float) -> Acked:
        """Unary Control with a ``timeout_s`` deadline."""
        sent = control_bytes(request)
        try:
            received = self._control(sent, timeout=timeout_s)
        except grpc.RpcError as err:
            raise TransportError(f"control failed: {_describe(err)}") from None
        return acked(sent, received, request)

    def send_control(self, request: ControlMsg, timeout_s: float) -> bytes:
        """Start the unary Control (``timeout_s`` deadline) without waiting; its ack, or
        its failure, comes out of :meth:`poll_acks`. The bytes sent."""
        sent = control_bytes(request)
        call = self._control.future(sent, timeout=timeout_s)
        key = key_of(request)
        call.add_done_callback(lambda done: self._acks.put(_ack_event(key, done)))
        return sent

    def poll_acks(self, timeout_s: float) -> list[AckEvent]:
        """The Control calls completed since the last call (up to ``timeout_s`` s for
        the first)."""
        out: list[AckEvent] = []
        try:
            out.append(self._acks.get(timeout=timeout_s) if timeout_s > 0
                       else self._acks.get_nowait())
            while True:
                out.append(self._acks.get_nowait())
        except queue.Empty:
            return out

    def _cancel_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None

    def close(self) -> None:
        """Cancel the stream, join the receive thread and close the channel; indications
        still queued are dropped and counted as ``superseded``."""
        try:
            self._cancel_stream()
            self.superseded += self.queue.clear()
            # after a given-up connect wait, gRPC's connectivity poll thread (behind
            # channel_ready_future) runs on for up to 0.2 s and dies with "Channel
            # closed!" on a channel closed before then
            time.sleep(max(0.0, self._ready_cancelled + GRPC_POLL_S - time.monotonic()))
        finally:
            self.channel.close()


def wait_for_health(address: str, timeout_s: float, service: str = SERVICE_NAME,
                    credentials: grpc.ChannelCredentials | None = None) -> None:
    """Block until the node at ``address`` reports SERVING for ``service``.

    Polls the standard ``grpc.health.v1.Health/Check`` (over TLS with
    ``credentials``); raises :class:`TransportError` naming the last status
    seen after ``timeout_s`` s.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    channel = (grpc.secure_channel(address, credentials) if credentials is not None
               else grpc.insecure_channel(address))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service),
                                   timeout=min(left, 1.0), wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as err:
                last = _describe(err)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    raise TransportError(f"E2 node at {address} not SERVING within {timeout_s:.1f} s ({last})")


def _ack_event(key: AckKey, call: grpc.Future) -> AckEvent:
    """A completed Control call as an :class:`AckEvent` (the request's key: the call
    ties the ack to its control)."""
    try:
        return AckEvent(key, call.result())
    except grpc.RpcError as err:
        return AckEvent(key, None, f"control failed: {_describe(err)}")
    except grpc.FutureCancelledError:
        return AckEvent(key, None, "control cancelled")


def _describe(err: BaseException) -> str:
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()}"  # type: ignore[attr-defined]
    return str(err) or type(err).__name__
