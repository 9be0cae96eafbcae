"""Health, readiness and metrics over HTTP, on the O-RAN SC paths.

* ``/ric/v1/health/alive``: 200 while the slot loop has turned within
  ``stale_after_s`` (or has not started waiting yet), else 503.
* ``/ric/v1/health/ready``: 200 only when subscribed and a policy is loaded.
* ``/metrics``: Prometheus text format.
* extra JSON routes by path prefix (``/ric/v1/explain``: :mod:`rrm.xapp.explain_observer`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

ALIVE_PATH = "/ric/v1/health/alive"
Route = Callable[[str], tuple[int, bytes]]  # path -> (status, JSON body)
READY_PATH = "/ric/v1/health/ready"


@dataclass
class HealthState:
    """Liveness and readiness facts, updated by the slot loop."""

    # longer than one connect attempt (5 s) plus a beat interval (1 s) of the backoff
    stale_after_s: float = 10.0
    subscribed: bool = False
    policy_loaded: bool = False
    fallback_only_reason: str = ""
    recording_error: str = ""  # why trace recording stopped ('' while fine or off)
    last_turn: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def beat(self) -> None:
        """The loop turned (received, decided, or waited out a poll timeout)."""
        with self._lock:
            self.last_turn = time.monotonic()

    def alive(self) -> tuple[bool, dict[str, object]]:
        """Liveness verdict and its facts."""
        age = time.monotonic() - self.last_turn
        return age <= self.stale_after_s, {"loop_age_s": round(age, 3)}

    def ready(self) -> tuple[bool, dict[str, object]]:
        """Readiness verdict and its facts."""
        facts = {"subscribed": self.subscribed, "policy_loaded": self.policy_loaded,
                 "fallback_only_reason": self.fallback_only_reason,
                 "recording_error": self.recording_error}
        serving = self.policy_loaded or bool(self.fallback_only_reason)  # WMMSE-only serves
        return self.subscribed and serving, facts


def _handler(health: HealthState, registry: CollectorRegistry,
             routes: Mapping[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                return
            for prefix, route in routes.items():
                if self.path == prefix or self.path.startswith(prefix + "/"):
                    self._send(*route(self.path), "application/json")
                    return
            checks = {ALIVE_PATH: health.alive, READY_PATH: health.ready}
            if self.path not in checks:
                self._send(404, b'{"error": "not found"}', "application/json")
                return
            ok, facts = checks[self.path]()
            body = json.dumps({"status": "ok" if ok else "unavailable", **facts}).encode()
            self._send(200 if ok else 503, body, "application/json")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # probes every few seconds would flood the logs

    return Handler


def serve_health(health: HealthState, registry: CollectorRegistry, host: str = "127.0.0.1",
                 port: int = 8080, routes: Mapping[str, Route] | None = None,
                 ) -> tuple[ThreadingHTTPServer, int]:
    """Start the HTTP server in a daemon thread; returns (server, bound port)."""
    server = ThreadingHTTPServer((host, port), _handler(health, registry, routes or {}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server, int(server.server_address[1])
