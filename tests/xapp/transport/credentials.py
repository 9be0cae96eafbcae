"""Test credentials made at test time: a CA, node and xApp certificates, CURVE key pairs.

Nothing here is shipped: every key is generated into the test's tmp_path
(EC P-256 keys, certificates valid for one day, SAN 127.0.0.1/localhost).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import zmq.auth
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of one CA and the leaf certificates it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, cn: str,
          usage: x509.ObjectIdentifier) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def make_pki(directory: Path, label: str = "rrm-test") -> Pki:
    """A fresh CA in ``directory`` with a server (node) and a client (xApp) certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{label} CA")
    now = dt.datetime.now(dt.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server, server_key = _leaf(ca_key, ca_name, "e2-node", ExtendedKeyUsageOID.SERVER_AUTH)
    client, client_key = _leaf(ca_key, ca_name, "rrm-xapp", ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(_write_cert(ca, directory / "ca.pem"),
               _write_cert(server, directory / "server.pem"),
               _write_key(server_key, directory / "server.key"),
               _write_cert(client, directory / "client.pem"),
               _write_key(client_key, directory / "client.key"))


@dataclass(frozen=True)
class CurveKeys:
    """ZeroMQ certificate files: the node's, an authorised and an unknown xApp's."""

    server_public: Path
    server_secret: Path
    client_secret: Path
    stranger_secret: Path
    authorized_dir: Path


def make_curve_keys(directory: Path) -> CurveKeys:
    """Key pairs written by zmq.auth.create_certificates; only ``client`` is authorised."""
    keys, authorized = directory / "keys", directory / "authorized"
    keys.mkdir(parents=True, exist_ok=True)
    authorized.mkdir(exist_ok=True)
    server_public, server_secret = map(Path, zmq.auth.create_certificates(keys, "server"))
    client_public, client_secret = map(Path, zmq.auth.create_certificates(keys, "client"))
    _, stranger_secret = map(Path, zmq.auth.create_certificates(keys, "stranger"))
    (authorized / client_public.name).write_bytes(client_public.read_bytes())
    return CurveKeys(server_public, server_secret, client_secret, stranger_secret, authorized)
