"""Client transports to an E2 node: gRPC, ZeroMQ, or in-process (``inproc``).

``connect(transport, address)`` is the one way slot-loop code obtains an
:class:`E2Client`; the transport modules import lazily so that a gRPC-only
deployment never loads ZeroMQ and vice versa.
"""

from __future__ import annotations

from rrm.core.errors import ConfigError
from rrm.xapp.transport.base import QUEUE_BYTES, E2Client, TransportError
from rrm.xapp.transport.screen import SizeLimits
from rrm.xapp.transport.security import ClientSecurity

__all__ = ["ClientSecurity", "E2Client", "SizeLimits", "TransportError", "connect"]

DEFAULT_MAX_MESSAGE_BYTES = 64 << 20  # 64 MiB, as the nodes


def _split(address: str, parts: int, example: str) -> list[str]:
    """``address`` as [host, port, ...]; ConfigError unless every port is 1..65535."""
    fields = address.rsplit(":", parts - 1)
    ports = fields[1:]
    if (len(fields) != parts or not fields[0]
            or not all(p.isdigit() and 0 < int(p) < 65536 for p in ports)):
        raise ConfigError(f"e2_address {address!r} must look like {example} "
                          f"(ports 1-65535)")
    return fields


def connect(transport: str, address: str,
            max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
            security: ClientSecurity | None = None, limits: SizeLimits | None = None,
            queue_bytes: int = QUEUE_BYTES) -> E2Client:
    """A client for ``transport``: 'grpc' (address host:port) or 'zmq' (host:pub_port:ctl_port).

    ``max_message_bytes`` caps the messages the client sends and accepts.
    ``security``: TLS (gRPC) or CURVE (ZeroMQ) credentials; plaintext to a
    non-loopback node logs ``insecure_connect``. ``limits``: the largest
    indication accepted (screened before decoding); ``queue_bytes``: the
    receive queue's byte bound. Bad credential files raise
    ConfigError here. Nothing is sent until :meth:`E2Client.subscribe`.
    """
    if max_message_bytes <= 0:
        raise ConfigError(f"max_message_bytes must be positive, got {max_message_bytes}")
    sec = security or ClientSecurity()
    if transport == "grpc":
        _split(address, 2, "127.0.0.1:50051")
        sec.check(transport)
        from rrm.xapp.transport.grpc_client import GrpcE2Client
        from rrm.xapp.transport.security import grpc_channel_credentials

        return GrpcE2Client(address, max_message_bytes,
                            credentials=grpc_channel_credentials(sec), limits=limits,
                            queue_bytes=queue_bytes)
    if transport == "zmq":
        host, pub, ctl = _split(address, 3, "127.0.0.1:5556:5557")
        sec.check(transport)
        from rrm.xapp.transport.security import curve_client_keys
        from rrm.xapp.transport.zmq_client import ZmqE2Client

        return ZmqE2Client(host, int(pub), int(ctl), max_message_bytes,
                           curve=curve_client_keys(sec), limits=limits,
                           queue_bytes=queue_bytes)
    raise ConfigError(f"transport must be grpc or zmq, got {transport!r}")
