"""rrm sim serve: bad requests are one line and exit code 2, before any port is bound."""

import pytest
import structlog

from rrm.cli import main
from rrm.core.logs import set_log_level


@pytest.fixture(autouse=True)
def _default_logging():
    """``sim serve`` configures logging onto the captured stderr: undo it for later tests."""
    yield
    structlog.reset_defaults()
    set_log_level("info")


@pytest.mark.parametrize("args, message", [
    (["--nodes", "0"], "--nodes must be >= 1"),
    (["--slot-ms", "0"], "--slot-ms > 0"),
    (["--rho", "1.5"], "--rho and --csi-loss must be in [0, 1]"),
    (["--control-delay", "-1"], "--control-delay >= 0"),
    (["--transport", "zmq", "--tls-cert", "c.pem"], "--tls-* flags apply to --transport grpc"),
    (["--curve-authorized-dir", "keys"], "--curve-* flags apply to --transport zmq"),
])
def test_bad_serving_requests_get_one_line(args, message, capsys):
    assert main(["sim", "serve", "--port", "0", "--slots", "1", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rrm sim serve: error:") and message in err[0]
