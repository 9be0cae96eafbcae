"""TLS / mutual TLS (gRPC) and CURVE (ZeroMQ): right credentials talk, wrong ones are refused.

Certificates and key pairs are generated per test (tests/xapp/transport/
credentials.py). Every refusal is bounded: the clients' connect/subscribe
timeouts are shortened to ``REFUSAL_S``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import rrm.xapp.transport.grpc_client as grpc_client
import rrm.xapp.transport.zmq_client as zmq_client
from rrm.core.wire.credentials import CurveFiles, TlsFiles
from rrm.core.wire.messages import Outcome, SubscribeMsg
from rrm.sim.e2.grpc_server import create_grpc_server, stop_grpc_server
from rrm.sim.e2.zmq_server import create_zmq_server
from rrm.xapp.transport import ClientSecurity, connect
from rrm.xapp.transport.base import TransportError
from tests.xapp.transport.credentials import make_curve_keys, make_pki
from tests.xapp.transport.test_transports import FakeNode, control_for

pytestmark = pytest.mark.timeout(30)
REFUSAL_S = 1.0  # how long a client tries before a refused handshake is reported, s


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_client, "CONNECT_TIMEOUT_S", REFUSAL_S)
    monkeypatch.setattr(zmq_client, "SUBSCRIBE_TIMEOUT_S", REFUSAL_S)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return make_pki(tmp_path_factory.mktemp("other-pki"), label="attacker")


@pytest.fixture(scope="module")
def curve(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return make_curve_keys(tmp_path_factory.mktemp("curve"))


def round_trip(transport: str, address: str, security: ClientSecurity) -> Outcome:
    """Subscribe, receive one indication, answer it; the ack's outcome."""
    client = connect(transport, address, security=security)
    try:
        client.subscribe(SubscribeMsg("x1", transaction_id="tx-sec"))
        raw = client.next_indication(3.0)
        assert raw is not None, "no indication over the secured transport"
        return client.control(control_for(raw, np.full(5, 0.004)), timeout_s=3.0).ack.outcome
    finally:
        client.close()


def refused(transport: str, address: str, security: ClientSecurity) -> float:
    """Assert the subscription fails with a TransportError; seconds it took."""
    client = connect(transport, address, security=security)
    t0 = time.monotonic()
    try:
        with pytest.raises(TransportError):
            client.subscribe(SubscribeMsg("x1", transaction_id="tx-sec"))
        return time.monotonic() - t0
    finally:
        client.close()


def grpc_node(pki, mutual: bool):  # noqa: ANN001, ANN201
    node = FakeNode(preload=1)
    tls = TlsFiles(str(pki.server_cert), str(pki.server_key), str(pki.ca) if mutual else "")
    server, port, health = create_grpc_server(node, "127.0.0.1:0", tls=tls)
    return node, server, health, f"127.0.0.1:{port}"


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
def test_grpc_tls_round_trip_with_the_right_credentials(pki, mutual):
    node, server, health, address = grpc_node(pki, mutual)
    client_cert = (str(pki.client_cert), str(pki.client_key)) if mutual else ("", "")
    try:
        outcome = round_trip("grpc", address, ClientSecurity(str(pki.ca), *client_cert))
    finally:
        stop_grpc_server(server, health, 0)
    assert outcome == Outcome.ACCEPTED and len(node.controls) == 1


def test_grpc_refuses_wrong_ca_plaintext_and_missing_or_foreign_client_certs(pki, other_pki):
    _, server, health, address = grpc_node(pki, mutual=True)
    cases = {
        "node cert not signed by the xApp's CA": ClientSecurity(
            str(other_pki.ca), str(pki.client_cert), str(pki.client_key)),
        "no client certificate under mutual TLS": ClientSecurity(str(pki.ca)),
        "client certificate from another CA": ClientSecurity(
            str(pki.ca), str(other_pki.client_cert), str(other_pki.client_key)),
        "plaintext client": ClientSecurity(),
    }
    try:
        took = {name: refused("grpc", address, sec) for name, sec in cases.items()}
    finally:
        stop_grpc_server(server, health, 0)
    assert all(t < REFUSAL_S + 2.0 for t in took.values()), took


def zmq_node(curve, authorised: bool):  # noqa: ANN001, ANN201
    node = FakeNode(preload=1)
    files = CurveFiles(str(curve.server_secret), str(curve.authorized_dir) if authorised else "")
    server, pub, ctl = create_zmq_server(node, "127.0.0.1", curve=files)
    return node, server, f"127.0.0.1:{pub}:{ctl}"


@pytest.mark.parametrize("authorised", [False, True], ids=["curve", "curve+authorised-keys"])
def test_zmq_curve_round_trip_with_the_right_keys(curve, authorised):
    node, server, address = zmq_node(curve, authorised)
    sec = ClientSecurity(curve_server_public_key_file=str(curve.server_public),
                         curve_client_key_file=str(curve.client_secret) if authorised else "")
    try:
        outcome = round_trip("zmq", address, sec)
    finally:
        server.stop()
    assert outcome == Outcome.ACCEPTED and len(node.controls) == 1


def test_zmq_refuses_wrong_server_key_unknown_client_key_and_plaintext(curve):
    node, server, address = zmq_node(curve, authorised=True)
    cases = {
        "wrong server public key": ClientSecurity(
            curve_server_public_key_file=str(curve.client_secret),
            curve_client_key_file=str(curve.client_secret)),
        "client key not authorised": ClientSecurity(
            curve_server_public_key_file=str(curve.server_public),
            curve_client_key_file=str(curve.stranger_secret)),
        "ephemeral client key": ClientSecurity(
            curve_server_public_key_file=str(curve.server_public)),
        "plaintext client": ClientSecurity(),
    }
    try:
        took = {name: refused("zmq", address, sec) for name, sec in cases.items()}
    finally:
        server.stop()
    assert node.requests == [] and node.controls == []  # nothing reached the node's code
    assert all(t < REFUSAL_S + 2.0 for t in took.values()), took
