"""xApp configuration: a frozen dataclass, validated from file, environment and flags.

Precedence (later wins): defaults < config file (JSON; path from ``--config``
or ``CONFIG_FILE``) < environment (``RRM_<FIELD>``, upper-case) < flags.
A file in the O-RAN SC descriptor style is accepted too: its ``controls``
object is read. Every error names the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rrm.core.errors import ConfigError
from rrm.core.objectives import OBJECTIVE_NAMES
from rrm.xapp.decision import (
    CELLFREE_FALLBACK_BUDGET_S,
    CELLFREE_FALLBACKS,
    DEFAULT_CELLFREE_FALLBACK,
)
from rrm.xapp.guards import GuardConfig
from rrm.xapp.transport.base import QUEUE_BYTES
from rrm.xapp.transport.inflight import MAX_INFLIGHT_CONTROLS
from rrm.xapp.transport.security import ClientSecurity

TRANSPORTS = ("grpc", "zmq")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class XAppConfig:
    """Everything the xApp needs to run.

    Attributes:
        transport: ``grpc`` or ``zmq``.
        e2_address: the E2 node: ``host:port`` (gRPC) or ``host:pub_port:ctl_port`` (ZeroMQ).
        node_ids: nodes to subscribe to (empty: all of the service's nodes).
        policy: registered policy name deciding each slot.
        fallback_policy: policy run when a guard trips (WMMSE family).
        fallback_max_iter: iteration cap of the fallback (bounded latency).
        cellfree_fallback: for cell-free nodes, ``scale`` (heuristic fronthaul
            scaling of the policy's own answer, fast) or ``pc-wmmse`` (tens of ms).
        objective: utility to maximise (sum, pf, qos, wsr).
        deadline_fraction: share of the slot (indication deadline) the policy may use.
        guards: guard thresholds.
        cellfree_fallback_budget_s: wall-time bound of the pc-wmmse fallback (and
            never past the indication's deadline); past it the indication is
            refused (``TIMER_EXPIRED``: the node applies its default allocation).
        health_host: address the health/metrics HTTP server binds (loopback by
            default; the Helm chart sets 0.0.0.0 for the kubelet's probes).
        health_port: HTTP port for /ric/v1/health/* and /metrics (0 = ephemeral).
        queue_bytes: receive queue bound in bytes (as well as 64 indications).
        max_inflight_controls: controls per node sent and still awaiting their
            acks (acks are matched as they come; one not back within 1 s is
            counted as ``dropped["ack_lost"]``); 0 awaits each ack before the
            next indication, as before #18.
        batch_window_ms: after an indication, how long the loop waits for the
            other nodes' indications to decide them in one batched pass (never
            past the earliest deadline less the batch's cost; not once every
            node has one in the batch), ms; 0: only what is already queued.
        record_path: trace file to record into ('' = no recording).
        log_level: debug, info, warning or error.
        max_message_bytes: largest wire message accepted or sent.
        reconnect_initial_s / reconnect_max_s: exponential backoff bounds.
        xapp_id: identity sent in subscriptions.
        checkpoint: checkpoint directory of a learned policy ('' = its shipped one).
        checkpoint_sha256: hex sha256 of ``checkpoint``'s model.safetensors; when set
            it is checked at start, and a hot reload that changes ``checkpoint``
            (a promotion) needs it (docs/operate.md).
        shadow_checkpoint: a candidate checkpoint of ``policy`` run next to the
            active one on the same CSI, never actuated ('' = none;
            :mod:`rrm.xapp.shadow`); hot reloaded.
        rollback_window: realised-utility slots per window when judging a
            promotion (0: never roll back; :mod:`rrm.xapp.promotion`).
        rollback_margin: relative slack: a promotion is rolled back when its
            window's mean is below ``before - margin * |before|``.
        tls_ca_file: gRPC: CA bundle verifying the E2 node's certificate (set: TLS).
        tls_cert_file / tls_key_file: gRPC: the xApp's certificate and key (mutual TLS).
        curve_server_public_key_file: ZeroMQ: the node's public key (set: CURVE).
        curve_client_key_file: ZeroMQ: the xApp's key pair, a zmq ``.key_secret`` file.
    """

    transport: str = "grpc"
    e2_address: str = "127.0.0.1:50051"
    node_ids: tuple[str, ...] = ()
    policy: str = "wmmse"
    fallback_policy: str = "wmmse"
    # Warm-started from the node's previous decision, 30 WMMSE iterations reached
    # 1.008x the utility of cold-started 500-iteration WMMSE on D18 (K=50, block
    # fading, 40 slots) in 0.94 ms per slot on this CPU; 10 iterations: 0.985x.
    fallback_max_iter: int = 30
    # pc-wmmse takes about 80 ms at B = 8, K = 4 (too slow for 10 ms slots); scaling
    # the policy's answer is sub-millisecond and falls back to pc-wmmse without one
    cellfree_fallback: str = DEFAULT_CELLFREE_FALLBACK
    # ours: a hostile size within the guards cannot hold the loop longer than this; the
    # indication's deadline (one slot) usually binds first (a late control is refused)
    cellfree_fallback_budget_s: float = CELLFREE_FALLBACK_BUDGET_S
    objective: str = "sum"
    deadline_fraction: float = 0.8
    guards: GuardConfig = field(default_factory=GuardConfig)
    health_host: str = "127.0.0.1"
    health_port: int = 8080
    queue_bytes: int = QUEUE_BYTES
    # ours (#18): a node acks within a slot, so a few in flight cover any jitter
    max_inflight_controls: int = MAX_INFLIGHT_CONTROLS
    # ours (#18): BATCH_WINDOW_MS_NOTE
    batch_window_ms: float = 0.0
    record_path: str = ""
    log_level: str = "info"
    max_message_bytes: int = 64 * 1024 * 1024
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 5.0
    xapp_id: str = "rrm-xapp"
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    shadow_checkpoint: str = ""
    # ours: 64 slots of block fading (K = 18) put the window mean within a few per cent
    rollback_window: int = 64
    rollback_margin: float = 0.0
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    curve_server_public_key_file: str = ""
    curve_client_key_file: str = ""

    def security(self) -> ClientSecurity:
        """The transport credentials' settings (files are read at connection time)."""
        return ClientSecurity(self.tls_ca_file, self.tls_cert_file, self.tls_key_file,
                              self.curve_server_public_key_file, self.curve_client_key_file)

    def __post_init__(self) -> None:
        _check_choice("transport", self.transport, TRANSPORTS)
        _check_choice("objective", self.objective, OBJECTIVE_NAMES)
        _check_choice("log_level", self.log_level, LOG_LEVELS)
        _check_choice("cellfree_fallback", self.cellfree_fallback, CELLFREE_FALLBACKS)
        if not 0 < self.deadline_fraction <= 1:
            raise ConfigError(f"deadline_fraction must be in (0, 1], got {self.deadline_fraction}")
        if not 0 <= self.health_port < 65536:
            raise ConfigError(f"health_port must be in [0, 65535], got {self.health_port}")
        if not self.cellfree_fallback_budget_s > 0:
            raise ConfigError(f"cellfree_fallback_budget_s must be positive, "
                              f"got {self.cellfree_fallback_budget_s}")
        if not self.health_host:
            raise ConfigError("health_host must be an address, e.g. 127.0.0.1 or 0.0.0.0")
        for name in ("fallback_max_iter", "max_message_bytes", "queue_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.max_inflight_controls <= 1024:
            raise ConfigError(f"max_inflight_controls must be in [0, 1024], "
                              f"got {self.max_inflight_controls}")
        if not 0 <= self.batch_window_ms <= 1000:
            raise ConfigError(f"batch_window_ms must be in [0, 1000], got {self.batch_window_ms}")
        if self.rollback_window < 0 or not 0 <= self.rollback_margin < 1:
            raise ConfigError(f"need rollback_window >= 0 and 0 <= rollback_margin < 1, got "
                              f"{self.rollback_window} and {self.rollback_margin}")
        if self.checkpoint_sha256 and not _is_sha256(self.checkpoint_sha256):
            raise ConfigError(f"checkpoint_sha256 must be 64 hex digits, got "
                              f"{self.checkpoint_sha256[:80]!r}")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ConfigError("need 0 < reconnect_initial_s <= reconnect_max_s")
        self.security().check(self.transport)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert ``value`` to the type of ``default``; ConfigError naming ``key`` otherwise."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if isinstance(default, GuardConfig):
            return _build(GuardConfig, value, prefix=f"{key}.")
        return type(default)(value)
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number"}.get(type(default), "a string")
        raise ConfigError(f"{key} must be {kind}, got {value!r}") from None


def _build(cls: Any, values: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be an object, got {values!r}")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; known keys: "
                          f"{', '.join(sorted(known))}")
    kwargs = {k: _coerce(prefix + k, v, getattr(defaults, k)) for k, v in values.items()}
    return dataclasses.replace(defaults, **kwargs)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file (plain, or descriptor-style with ``controls``)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"config file {str(p)!r} is not valid JSON: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("controls"), dict):
        data = data["controls"]
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a JSON object")
    return data


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``RRM_<FIELD>`` environment variables as config values."""
    out: dict[str, Any] = {}
    for f in fields(XAppConfig):
        key = f"RRM_{f.name.upper()}"
        if key in environ and f.name != "guards":
            out[f.name] = environ[key]
    return out


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                flags: Mapping[str, Any] | None = None) -> XAppConfig:
    """Resolve the configuration: defaults < file < environment < flags."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = path or env.get("CONFIG_FILE") or None
    if path:
        values.update(read_config_file(path))
    values.update(env_overrides(env))
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    cfg = _build(XAppConfig, values)
    assert isinstance(cfg, XAppConfig)
    return cfg


def config_as_dict(cfg: XAppConfig) -> dict[str, Any]:
    """JSON-serialisable view of a config (logged at start, saved with traces)."""
    d = dataclasses.asdict(cfg)
    d["node_ids"] = list(cfg.node_ids)
    return d
