"""Transport credentials of the E2 interface: TLS files for gRPC, CURVE keys for ZeroMQ.

Both sides read their key material here, so that a missing, unreadable or
malformed file is one :class:`rrm.core.errors.ConfigError` naming the file and the
setting, raised before any socket is bound or connected. Only paths are ever
logged or put in error messages, never the bytes of a key.

Transport security is optional only on loopback: a server bound to any other
address without TLS (gRPC) or CURVE (ZeroMQ), or a client connecting to one,
gets a loud ``insecure_bind`` / ``insecure_connect`` warning
(:func:`insecure_warning`).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import structlog

from rrm.core.errors import ConfigError

log = structlog.get_logger("rrm.sim.credentials")
MAX_CREDENTIAL_BYTES = 1 << 20  # a certificate chain or key file larger than 1 MiB is not one


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one TLS endpoint.

    Attributes:
        cert_file: this endpoint's certificate (chain), PEM.
        key_file: its private key, PEM.
        ca_file: CA bundle that verifies the *peer*: on a server, the CA of
            client certificates (set: mutual TLS is required); on a client,
            the CA of the E2 node's certificate.
    """

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""


@dataclass(frozen=True)
class PemCredentials:
    """The loaded bytes of :class:`TlsFiles` (empty where a file was not given)."""

    cert: bytes = b""
    key: bytes = b""
    ca: bytes = b""

    def __repr__(self) -> str:  # never print key material, even in a traceback
        return (f"PemCredentials(cert={len(self.cert)} B, key=<{len(self.key)} B hidden>, "
                f"ca={len(self.ca)} B)")


def read_credential(path: str, setting: str) -> bytes:
    """Bytes of a credential file; ConfigError naming ``setting`` when it cannot be read."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_CREDENTIAL_BYTES:
            raise ConfigError(f"{setting}: {path!r} is {size} bytes, too large for a key file")
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{setting}: file {path!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{setting}: {path!r} is a directory, expected a file") from None
    except OSError as err:
        raise ConfigError(f"{setting}: cannot read {path!r} ({err.strerror})") from None
    if not data.strip():
        raise ConfigError(f"{setting}: file {path!r} is empty")
    return data


def load_tls(files: TlsFiles, role: str,
             settings: tuple[str, str, str] = ("certificate", "key", "CA")) -> PemCredentials:
    """Read and check ``files``: the key matches the certificate, the CA bundle parses.

    ``role`` ("server" or "client") and ``settings`` (the names of the cert,
    key and CA settings, e.g. the config keys) only word the errors. The
    check uses the standard library's TLS implementation, so a file gRPC
    would refuse later (in a background thread, with a vague status) is
    refused here instead. Encrypted private keys are not supported (no
    passphrase is ever asked for).
    """
    cert_name, key_name, ca_name = (f"TLS {role} {name}" for name in settings)
    if bool(files.cert_file) != bool(files.key_file):
        raise ConfigError(f"TLS {role}: give both a certificate and a key file, or neither")
    creds = PemCredentials(
        cert=read_credential(files.cert_file, cert_name) if files.cert_file else b"",
        key=read_credential(files.key_file, key_name) if files.key_file else b"",
        ca=read_credential(files.ca_file, ca_name) if files.ca_file else b"")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if files.cert_file:
        try:  # the password callback keeps OpenSSL from prompting on a terminal
            context.load_cert_chain(files.cert_file, files.key_file, password=lambda: b"")
        except ssl.SSLError as err:
            raise ConfigError(f"{cert_name}/{key_name}: {files.cert_file!r} and "
                              f"{files.key_file!r} are not a matching PEM certificate and "
                              f"unencrypted private key ({err.reason})") from None
    if files.ca_file:
        try:
            context.load_verify_locations(cadata=creds.ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError):
            raise ConfigError(f"{ca_name}: {files.ca_file!r} holds no PEM certificate") from None
    log.info("tls_credentials_loaded", role=role, cert_file=files.cert_file,
             key_file=files.key_file, ca_file=files.ca_file)
    return creds


def load_curve_keypair(path: str, setting: str) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys of a ZeroMQ certificate file holding a secret key."""
    public, secret = _load_curve_file(path, setting)
    if secret is None:
        raise ConfigError(f"{setting}: {path!r} holds only a public key; give the "
                          f"'.key_secret' file written by zmq.auth.create_certificates")
    return public, secret


def load_curve_public(path: str, setting: str) -> bytes:
    """The Z85 public key of a ZeroMQ certificate file (public or secret one)."""
    return _load_curve_file(path, setting)[0]


def _load_curve_file(path: str, setting: str) -> tuple[bytes, bytes | None]:
    import zmq.auth  # here, so that a gRPC-only process never loads ZeroMQ

    read_credential(path, setting)  # same existence/size/readability errors as TLS files
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (ValueError, OSError, KeyError, IndexError):
        raise ConfigError(f"{setting}: {path!r} is not a ZeroMQ certificate file "
                          f"(expected public-key/secret-key lines)") from None
    for key in (public, secret):
        if key is not None and len(key) != 40:
            raise ConfigError(f"{setting}: {path!r} holds a key that is not 40 Z85 characters")
    log.info("curve_key_loaded", setting=setting, path=path)
    return public, secret


def is_loopback(host: str) -> bool:
    """True for 'localhost' and addresses in 127.0.0.0/8 or ::1; False for anything else."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name or a wildcard ('*', '0.0.0.0' parses and is not loopback)


def insecure_text(host: str, secured: bool, role: str, transport: str) -> str:
    """Why unprotected E2 traffic on ``host`` is dangerous ('' when secured or loopback)."""
    if secured or is_loopback(host):
        return ""
    if role == "connect":
        remedy = ("tls_ca_file (and tls_cert_file/tls_key_file)" if transport == "grpc"
                  else "curve_server_public_key_file (and curve_client_key_file)")
    else:
        remedy = ("--tls-cert/--tls-key (and --tls-client-ca for mutual TLS)"
                  if transport == "grpc" else "--curve-secret-key (and --curve-authorized-dir)")
    return (f"E2 {transport} traffic on {host} is neither encrypted nor authenticated: "
            f"anyone on that network can read CSI and send controls; set {remedy}")


def insecure_warning(host: str, secured: bool, role: str, transport: str) -> str:
    """Log :func:`insecure_text` as ``insecure_<role>`` at warning level; returns it.

    ``role`` is "bind" (a node) or "connect" (an xApp).
    """
    text = insecure_text(host, secured, role, transport)
    if text:
        log.warning(f"insecure_{role}", host=host, transport=transport, detail=text)
    return text


@dataclass(frozen=True)
class CurveFiles:
    """CURVE settings of a ZeroMQ E2 node.

    Attributes:
        secret_key_file: the node's certificate with its secret key (the
            ``.key_secret`` file of ``zmq.auth.create_certificates``).
        authorized_dir: directory of the public-key certificates of the
            xApps allowed in ('' = any client that knows the node's public key).
    """

    secret_key_file: str
    authorized_dir: str = ""


def check_authorized_dir(path: str) -> int:
    """Number of public-key files in ``path``; ConfigError when none or not a directory."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"CURVE authorised clients: {path!r} is not a directory")
    count = sum(1 for f in p.iterdir() if f.suffix == ".key" and f.is_file())
    if count == 0:
        raise ConfigError(f"CURVE authorised clients: {path!r} holds no '.key' public-key file")
    return count
