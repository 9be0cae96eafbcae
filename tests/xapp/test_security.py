"""Credential files at the boundary: one-line ConfigErrors, no key material in logs,
loud warnings for plaintext beyond loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from structlog.testing import capture_logs

from rrm.core.errors import ConfigError
from rrm.core.wire.credentials import (
    CurveFiles,
    PemCredentials,
    TlsFiles,
    is_loopback,
    load_curve_keypair,
    load_tls,
)
from rrm.sim.e2.zmq_server import create_zmq_server
from rrm.xapp.config import load_config
from rrm.xapp.transport import ClientSecurity, connect
from tests.xapp.transport.credentials import make_curve_keys, make_pki
from tests.xapp.transport.test_transports import FakeNode


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def curve(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return make_curve_keys(tmp_path_factory.mktemp("curve"))


def bad_files(tmp_path, pki):  # noqa: ANN001, ANN201
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"pass")))
    return {
        "unencrypted private key": TlsFiles(str(pki.server_cert), str(encrypted)),
        "does not exist": TlsFiles(str(tmp_path / "nope.pem"), str(pki.server_key)),
        "is empty": TlsFiles(str(empty), str(pki.server_key)),
        "not a matching PEM": TlsFiles(str(pki.server_cert), str(pki.client_key)),
        "holds no PEM certificate": TlsFiles(str(pki.server_cert), str(pki.server_key),
                                             str(garbage)),
        "is a directory": TlsFiles(str(tmp_path), str(pki.server_key)),
        "both a certificate and a key": TlsFiles(str(pki.server_cert), ""),
    }


def test_bad_tls_files_are_one_line_config_errors_naming_the_file(tmp_path, pki):
    for expected, files in bad_files(tmp_path, pki).items():
        with pytest.raises(ConfigError) as err:
            load_tls(files, "server")
        message = str(err.value)
        assert expected in message and "\n" not in message, message
        assert "BEGIN" not in message


def test_bad_curve_files_are_one_line_config_errors(tmp_path, curve):
    garbage = tmp_path / "garbage.key_secret"
    garbage.write_text("hello\n")
    cases = {"does not exist": str(tmp_path / "none.key_secret"),
             "not a ZeroMQ certificate": str(garbage),
             "holds only a public key": str(curve.server_public)}
    for expected, path in cases.items():
        with pytest.raises(ConfigError, match=expected) as err:
            load_curve_keypair(path, "curve_client_key_file")
        assert "curve_client_key_file" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="no '.key' public-key file"):
        create_zmq_server(FakeNode(), curve=CurveFiles(str(curve.server_secret), str(tmp_path)))


def test_config_refuses_inconsistent_security_settings(pki, curve):
    with pytest.raises(ConfigError, match="given together"):
        load_config(environ={"RRM_TLS_CA_FILE": str(pki.ca),
                             "RRM_TLS_CERT_FILE": str(pki.client_cert)})
    with pytest.raises(ConfigError, match="tls_\\* keys apply to grpc"):
        load_config(environ={"RRM_TRANSPORT": "zmq", "RRM_TLS_CA_FILE": str(pki.ca)})
    with pytest.raises(ConfigError, match="needs curve_server_public_key_file"):
        load_config(environ={"RRM_TRANSPORT": "zmq",
                             "RRM_CURVE_CLIENT_KEY_FILE": str(curve.client_secret)})
    cfg = load_config(environ={"RRM_TLS_CA_FILE": str(pki.ca),
                               "RRM_TLS_CERT_FILE": str(pki.client_cert),
                               "RRM_TLS_KEY_FILE": str(pki.client_key)})
    assert cfg.security() == ClientSecurity(str(pki.ca), str(pki.client_cert),
                                            str(pki.client_key))


def test_key_paths_may_be_logged_but_key_material_never(pki, curve):
    secrets = [pki.client_key.read_text(), pki.server_key.read_text()]
    secrets += [line.split('"')[1] for line in curve.client_secret.read_text().splitlines()
                if "secret-key" in line]
    secret_bodies = [s.splitlines()[1] if "BEGIN" in s else s for s in secrets]
    with capture_logs() as logs:
        connect("grpc", "127.0.0.1:1", security=ClientSecurity(
            str(pki.ca), str(pki.client_cert), str(pki.client_key))).close()
        connect("zmq", "127.0.0.1:1:2", security=ClientSecurity(
            curve_server_public_key_file=str(curve.server_public),
            curve_client_key_file=str(curve.client_secret))).close()
        server, _, _ = create_zmq_server(FakeNode(), curve=CurveFiles(
            str(curve.server_secret), str(curve.authorized_dir)))
        server.stop()
    text = json.dumps(logs, default=str)
    assert str(pki.client_key) in text and str(curve.client_secret) in text  # paths: yes
    assert not any(body in text for body in secret_bodies)  # key material: never
    pem = PemCredentials(b"cert", pki.client_key.read_bytes(), b"")
    assert secret_bodies[0] not in repr(pem)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("*", False), ("10.0.0.5", False),
    ("e2-node.ran.svc", False), ("::", False),
])
def test_only_loopback_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_plaintext_beyond_loopback_warns_loudly_and_loopback_stays_quiet():
    with capture_logs() as logs:
        cfg = load_config(environ={}, flags={"e2_address": "10.0.0.5:50051"})
        quiet = load_config(environ={}, flags={"e2_address": "127.0.0.1:50051"})
        from rrm.xapp.app import XApp
        for c in (cfg, quiet):
            XApp(c).decider.close()
    events = [e for e in logs if e["event"] == "insecure_connect"]
    assert len(events) == 1 and events[0]["log_level"] == "warning"
    assert events[0]["host"] == "10.0.0.5" and "tls_ca_file" in events[0]["detail"]


def test_sim_serve_on_a_wildcard_address_without_curve_prints_the_warning():
    # binds every interface for a moment: nothing is sent anywhere but loopback
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--transport", "zmq",
           "--host", "0.0.0.0", "--pub-port", "0", "--ctl-port", "0", "--k", "4",
           "--slots", "2", "--slot-ms", "5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "neither encrypted nor authenticated" in warning[0]
    assert any('"insecure_bind"' in line for line in done.stderr.splitlines())
    assert json.loads(done.stdout.splitlines()[0])["security"] == "none"


def test_sim_serve_refuses_a_bad_key_file_with_one_line_and_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--port", "0",
           "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "k.pem")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("does not exist") and done.stderr.count("\n") == 1
    structlog.reset_defaults()


def serve_secured(*flags: str) -> tuple[subprocess.Popen[str], dict]:
    cmd = [sys.executable, "-m", "rrm", "sim", "serve", "--port", "0", "--pub-port", "0",
           "--ctl-port", "0", "--k", "6", "--slot-ms", "20", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_sim_serve_and_xapp_run_close_the_loop_over_mutual_tls_and_curve(pki, curve,
                                                                        transport):
    if transport == "grpc":
        node_flags = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                      "--tls-client-ca", str(pki.ca)]
        xapp_flags = ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert),
                      "--tls-key", str(pki.client_key)]
    else:
        node_flags = ["--transport", "zmq", "--curve-secret-key", str(curve.server_secret),
                      "--curve-authorized-dir", str(curve.authorized_dir)]
        xapp_flags = ["--curve-server-key", str(curve.server_public),
                      "--curve-client-key", str(curve.client_secret)]
    proc, info = serve_secured(*node_flags)
    try:
        assert info["security"] == ("tls" if transport == "grpc" else "curve")
        done = subprocess.run([sys.executable, "-m", "rrm", "xapp", "run", "--transport",
                               transport, "--e2-address", info["address"], "--slots", "20",
                               "--health-port", "0", "--log-level", "error", "--json",
                               *xapp_flags], capture_output=True, text=True, timeout=120)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert done.returncode == 0, done.stderr[-1000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["slots"] == 20 and summary["controls"] + summary["refusals"] == 20
    assert "warning" not in done.stderr


def test_no_pickle_on_any_input_path():
    root = Path(__file__).resolve().parents[2]
    banned = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib)\b|torch\.load\(|"
                        r"allow_pickle\s*=\s*True|read_pickle\(|marshal\.loads\(")
    offenders, scanned = [], 0
    for package in ("rrm",):
        for path in (root / package).rglob("*.py"):
            scanned += 1
            for number, line in enumerate(path.read_text().splitlines(), 1):
                unsafe_numpy = "np.load(" in line and "allow_pickle=False" not in line
                if banned.search(line) or unsafe_numpy:
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert scanned > 50 and offenders == []
