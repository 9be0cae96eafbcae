"""Client transports to an E2 node: gRPC, ZeroMQ, or in-process."""

from __future__ import annotations

from sim.errors import ConfigError
from xapp.transport.base import E2Client, TransportError

__all__ = ["E2Client", "TransportError", "connect"]


def _split(address: str, parts: int, example: str) -> list[str]:
    fields = address.rsplit(":", parts - 1)
    if len(fields) != parts or not all(fields) or not all(f.isdigit() for f in fields[1:]):
        raise ConfigError(f"e2_address {address!r} must look like {example}")
    return fields


def connect(transport: str, address: str, max_message_bytes: int = 64 << 20) -> E2Client:
    """A client for ``transport`` ('grpc': host:port; 'zmq': host:pub_port:ctl_port)."""
    if transport == "grpc":
        _split(address, 2, "127.0.0.1:50051")
        from xapp.transport.grpc_client import GrpcE2Client

        return GrpcE2Client(address, max_message_bytes)
    if transport == "zmq":
        host, pub, ctl = _split(address, 3, "127.0.0.1:5556:5557")
        from xapp.transport.zmq_client import ZmqE2Client

        return ZmqE2Client(host, int(pub), int(ctl), max_message_bytes)
    raise ConfigError(f"transport must be grpc or zmq, got {transport!r}")
