"""The xApp's transport credentials: TLS / mutual TLS for gRPC, CURVE for ZeroMQ.

The settings are :class:`rrm.xapp.config.XAppConfig` keys (``tls_ca_file``,
``tls_cert_file``, ``tls_key_file``, ``curve_server_public_key_file``,
``curve_client_key_file``; environment ``RRM_<KEY>``). Files are read once
per connection, here, so that a bad one is a one-line ConfigError before
anything is sent; only their paths are logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from rrm.core.errors import ConfigError
from rrm.core.wire.credentials import (
    TlsFiles,
    insecure_warning,
    load_curve_keypair,
    load_curve_public,
    load_tls,
)

if TYPE_CHECKING:
    import grpc

log = structlog.get_logger("rrm.xapp.security")


@dataclass(frozen=True)
class ClientSecurity:
    """Where the xApp's credentials are ('' = not used).

    Attributes:
        tls_ca_file: gRPC: CA bundle that verifies the E2 node's certificate;
            set, the channel is TLS.
        tls_cert_file / tls_key_file: gRPC: the xApp's own certificate and
            key, presented for mutual TLS.
        curve_server_public_key_file: ZeroMQ: the node's public key
            (certificate file); set, both sockets use CURVE.
        curve_client_key_file: ZeroMQ: the xApp's key pair (a ``.key_secret``
            certificate file); empty: a fresh key pair per connection, which
            a node that only admits authorised keys refuses.
    """

    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    curve_server_public_key_file: str = ""
    curve_client_key_file: str = ""

    def check(self, transport: str) -> None:
        """ConfigError for settings that cannot work together on ``transport``."""
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("tls_cert_file and tls_key_file must be given together")
        if self.tls_cert_file and not self.tls_ca_file:
            raise ConfigError("tls_cert_file/tls_key_file need tls_ca_file (the node's CA)")
        if self.curve_client_key_file and not self.curve_server_public_key_file:
            raise ConfigError("curve_client_key_file needs curve_server_public_key_file")
        tls = bool(self.tls_ca_file)
        curve = bool(self.curve_server_public_key_file)
        if (transport == "grpc" and curve) or (transport == "zmq" and tls):
            wrong = "curve_* keys apply to zmq" if curve else "tls_* keys apply to grpc"
            raise ConfigError(f"transport is {transport} but {wrong}")

    def secured(self, transport: str) -> bool:
        """Whether traffic on ``transport`` is encrypted and the node authenticated."""
        return bool(self.tls_ca_file if transport == "grpc"
                    else self.curve_server_public_key_file)


@dataclass(frozen=True)
class CurveClientKeys:
    """Z85 keys a ZeroMQ client socket needs for CURVE."""

    server_public: bytes
    public: bytes
    secret: bytes

    def __repr__(self) -> str:
        return "CurveClientKeys(<hidden>)"


def grpc_channel_credentials(sec: ClientSecurity) -> grpc.ChannelCredentials | None:
    """TLS channel credentials (mutual when a client certificate is set); None: plaintext."""
    if not sec.tls_ca_file:
        return None
    import grpc

    pem = load_tls(TlsFiles(sec.tls_cert_file, sec.tls_key_file, sec.tls_ca_file), "client",
                   ("tls_cert_file", "tls_key_file", "tls_ca_file"))
    return grpc.ssl_channel_credentials(root_certificates=pem.ca,
                                        private_key=pem.key or None,
                                        certificate_chain=pem.cert or None)


def curve_client_keys(sec: ClientSecurity) -> CurveClientKeys | None:
    """The CURVE keys of a ZeroMQ client; None: plaintext."""
    if not sec.curve_server_public_key_file:
        return None
    server_public = load_curve_public(sec.curve_server_public_key_file,
                                      "curve_server_public_key_file")
    if sec.curve_client_key_file:
        public, secret = load_curve_keypair(sec.curve_client_key_file, "curve_client_key_file")
    else:
        import zmq

        public, secret = zmq.curve_keypair()
        log.info("curve_ephemeral_client_key", detail="no curve_client_key_file: nodes that "
                                                      "admit only authorised keys will refuse")
    return CurveClientKeys(server_public, public, secret)


def warn_if_insecure(transport: str, address: str, sec: ClientSecurity) -> str:
    """Log ``insecure_connect`` (and return its text) for plaintext beyond loopback."""
    host = address.rsplit(":", 2 if transport == "zmq" else 1)[0]
    return insecure_warning(host, sec.secured(transport), "connect", transport)


def check_credentials(transport: str, sec: ClientSecurity) -> None:
    """Read every configured credential file once (ConfigError on the first bad one)."""
    sec.check(transport)
    if transport == "grpc":
        grpc_channel_credentials(sec)
    else:
        curve_client_keys(sec)
