"""The xApp process: configuration, policy, subscription with reconnects, slot loop.

``run_xapp`` wires the pieces: health/metrics HTTP, the policy (or WMMSE
only when it cannot load, said in health and metrics), the E2 client with
exponential backoff on connection loss (resubscribing with the same
transaction id), the slot loop and its observers (trace recording, the
demo's reference comparison), and a config watcher that applies log level
and guard changes without a restart.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from rrm.core.errors import ConfigError, ProtocolMismatch, RrmError
from rrm.core.wire.messages import SubscribeMsg
from rrm.models.policy import Policy, make_policy
from rrm.xapp.config import XAppConfig, config_as_dict, load_config
from rrm.xapp.decision import Decider
from rrm.xapp.explain_observer import EXPLAIN_PATH, ExplainObserver
from rrm.xapp.guards import size_limits
from rrm.xapp.health import HealthState, serve_health
from rrm.xapp.heap import freeze_startup_heap
from rrm.xapp.logs import set_log_level
from rrm.xapp.loop import LoopStats, SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.observer import LoopObserver
from rrm.xapp.promotion import Promotion, verify_sha256
from rrm.xapp.recorder import Recorder
from rrm.xapp.references import ReferenceObserver
from rrm.xapp.shadow import ShadowObserver
from rrm.xapp.transport import connect
from rrm.xapp.transport.base import Abandoned, TransportError
from rrm.xapp.transport.security import check_credentials, warn_if_insecure
from rrm.xapp.watch import ConfigWatcher

log = structlog.get_logger("rrm.xapp")


def load_policies(cfg: XAppConfig, health: HealthState,
                  metrics: XAppMetrics) -> tuple[Policy, Policy]:
    """The configured policy and the fallback; WMMSE-only when the policy fails to load.

    A missing, truncated or tampered checkpoint (sha256 mismatch) is a
    :class:`rrm.core.errors.CheckpointError`: the xApp then serves with the
    fallback alone and says why in ``/ric/v1/health/ready``
    (``fallback_only_reason``) and in ``rrm_xapp_fallback_only{reason}``.
    """
    fallback = make_policy(cfg.fallback_policy, max_iter=cfg.fallback_max_iter)
    kwargs = {"checkpoint": cfg.checkpoint} if cfg.checkpoint else {}
    try:
        if cfg.checkpoint and cfg.checkpoint_sha256:
            verify_sha256(cfg.checkpoint, cfg.checkpoint_sha256)
        policy = make_policy(cfg.policy, **kwargs)
        metrics.policy_loaded.labels(policy=cfg.policy).set(1)
        health.policy_loaded = True  # /ready says what the metric says (#19 item 14)
    except (RrmError, TypeError) as err:
        # TypeError: a policy without a checkpoint was given one
        health.fallback_only_reason = f"policy {cfg.policy!r} unavailable: {err}"
        metrics.policy_loaded.labels(policy=cfg.policy).set(0)
        metrics.fallback_only.labels(reason=_snake(type(err).__name__)).set(1)
        log.error("policy_load_failed", policy=cfg.policy, error=str(err),
                  mode="fallback_only")
        policy = fallback
    return policy, fallback


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class XApp:
    """One xApp instance; :meth:`run` blocks until ``stop`` is set or ``max_slots``."""

    def __init__(self, cfg: XAppConfig, config_path: str | None = None,
                 references: bool = False, explanations: bool = True) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.metrics = XAppMetrics()
        self.health = HealthState()
        self.stats = LoopStats()
        self.last_seq: dict[tuple[str, str], int] = {}
        self.transaction_id = uuid.uuid4().hex
        self.policy, self.fallback = load_policies(cfg, self.health, self.metrics)
        self.decider = Decider(self.policy, self.fallback, cfg.guards, cfg.objective,
                               cellfree_fallback=cfg.cellfree_fallback,
                               cellfree_fallback_budget_s=cfg.cellfree_fallback_budget_s)
        self.recorder: Recorder | None = None
        if cfg.record_path:
            meta = {"writer": "rrm xapp", "config": config_as_dict(cfg)}
            self.recorder = Recorder(cfg.record_path, meta, self.metrics, health=self.health)
        # the demo's comparison with WMMSE and full reuse on the same CSI (after the run)
        self.references = (ReferenceObserver(self.decider.objective_for, self.stats.utility)
                           if references else None)
        # the latest decision per node, explained on request at /ric/v1/explain/<node>
        self.explainer = (ExplainObserver(self.decider, cfg.deadline_fraction)
                          if explanations else None)
        # a candidate decided beside the active policy (shadow_checkpoint), and promotion
        # by config change with rollback on the realised utility (docs/operate.md)
        self.shadow = ShadowObserver(self.decider.objective_for,
                                     lambda: self.decider.policy.version, self.metrics,
                                     self.recorder)
        self._set_shadow(cfg.shadow_checkpoint)
        self.promotion = Promotion(self.decider, self.metrics, self._build, cfg.checkpoint,
                                   cfg.rollback_window, cfg.rollback_margin)
        self.http_port = 0
        self.loop: SlotLoop | None = None
        self._session_subscribed = False  # the current session got its subscription ack
        # said once at start (and printed by the CLI); files are read at each connection
        self.insecure = warn_if_insecure(cfg.transport, cfg.e2_address, cfg.security())
        check_credentials(cfg.transport, cfg.security())  # bad key files: ConfigError now

    def _build(self, checkpoint: str) -> Policy:
        """The configured policy from ``checkpoint`` (promotion and shadow)."""
        return make_policy(self.cfg.policy, checkpoint=checkpoint)

    def _set_shadow(self, checkpoint: str) -> None:
        """Shadow ``checkpoint`` ('' stops); one that does not load is logged, not run."""
        try:
            self.shadow.set_candidate(self._build(checkpoint) if checkpoint else None)
        except (RrmError, TypeError) as err:
            self.shadow.set_candidate(None)
            log.error("shadow_load_failed", checkpoint=checkpoint, error=str(err)[:300])

    def reload(self, path: Path) -> None:
        """Apply a changed config file: log level, guards and objective take effect now;
        a new ``checkpoint`` is promoted (sha256-checked), a new ``shadow_checkpoint``
        shadowed, the rollback window and margin apply to the next judgement."""
        new = load_config(path)
        set_log_level(new.log_level)
        self.decider.guards = new.guards
        self.decider.objective_name = new.objective
        self.promotion.window, self.promotion.margin = new.rollback_window, new.rollback_margin
        changes: dict[str, Any] = {}
        if (new.checkpoint, new.checkpoint_sha256) != (self.cfg.checkpoint,
                                                       self.cfg.checkpoint_sha256):
            if self.promotion.promote(new.checkpoint, new.checkpoint_sha256):
                changes = {"checkpoint": new.checkpoint,
                           "checkpoint_sha256": new.checkpoint_sha256}
        if new.shadow_checkpoint != self.cfg.shadow_checkpoint:
            self._set_shadow(new.shadow_checkpoint)
        self.cfg = dataclasses.replace(self.cfg, log_level=new.log_level, guards=new.guards,
                                       objective=new.objective,
                                       shadow_checkpoint=new.shadow_checkpoint,
                                       rollback_window=new.rollback_window,
                                       rollback_margin=new.rollback_margin, **changes)
        log.info("config_reloaded", path=str(path), log_level=new.log_level)

    def run(self, stop: threading.Event, max_slots: int | None = None,
            serve_http: bool = True) -> LoopStats:
        """Serve until stopped; reconnects with backoff when the node goes away."""
        server = watcher = None
        if serve_http:
            server = self._serve_http()
        if self.config_path:
            watcher = ConfigWatcher(self.config_path, self.reload).start()
        log.info("xapp_started", config=config_as_dict(self.cfg), policy=self.policy.name)
        freeze_startup_heap()  # the policy is loaded: no full GC pass walks it per slot
        try:
            self._serve(stop, max_slots)
        finally:
            self.decider.close()
            self.shadow.close()
            if watcher is not None:
                watcher.stop()
            if self.recorder is not None:
                self.recorder.close()
            if server is not None:
                server.shutdown()
        return self.stats

    def _serve_http(self) -> Any:
        """Start health/metrics on ``health_host:health_port``; a busy port is a
        :class:`ConfigError` (one line, exit 2), not a traceback."""
        try:
            routes = {EXPLAIN_PATH: self.explainer.route} if self.explainer else {}
            server, self.http_port = serve_health(self.health, self.metrics.registry,
                                                  host=self.cfg.health_host,
                                                  port=self.cfg.health_port, routes=routes)
        except OSError as err:
            raise ConfigError(f"health_host:health_port {self.cfg.health_host}:"
                              f"{self.cfg.health_port} cannot be bound: "
                              f"{err.strerror or err}") from None
        return server

    @property
    def observers(self) -> list[LoopObserver]:
        """What watches every slot: the recorder, the reference comparison and the
        explainer, each if on, the shadow and the promotion's rollback watch."""
        return [o for o in (self.recorder, self.references, self.explainer, self.shadow,
                            self.promotion) if o is not None]

    def _serve(self, stop: threading.Event, max_slots: int | None) -> None:
        """Sessions until stopped. The backoff doubles per failed attempt and starts
        over after a good session: one that subscribed and answered an indication."""
        backoff = self.cfg.reconnect_initial_s
        first = True
        while not stop.is_set() and (max_slots is None or self.stats.slots < max_slots):
            slots = self.stats.slots
            try:
                self._session(stop, max_slots, resumed=not first)
                backoff = self.cfg.reconnect_initial_s
            except ProtocolMismatch:
                raise
            except Abandoned:
                log.info("session_interrupted")  # stop is set: the loop ends here
            except TransportError as err:
                self.health.subscribed = False
                self.metrics.subscribed.set(0)
                if self._session_subscribed and self.stats.slots > slots:
                    backoff = self.cfg.reconnect_initial_s
                log.warning("e2_connection_lost", error=str(err), retry_in_s=backoff)
                self._wait_alive(stop, backoff)
                backoff = min(backoff * 2, self.cfg.reconnect_max_s)
            first = False

    def _wait_alive(self, stop: threading.Event, seconds: float) -> None:
        """Back off without looking dead: reconnecting is the loop working as designed
        (liveness stays 200; readiness is 503 while unsubscribed)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            self.health.beat()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 1.0))

    def _session(self, stop: threading.Event, max_slots: int | None, resumed: bool) -> None:
        self.health.beat()  # a connect attempt may take the client's whole connect timeout
        self._session_subscribed = False
        client = None
        try:
            client = connect(self.cfg.transport, self.cfg.e2_address, self.cfg.max_message_bytes,
                             self.cfg.security(), size_limits(self.cfg.guards),
                             self.cfg.queue_bytes)
            client.abandon = stop  # a stop gives up the connect/subscribe waits (<= 0.1 s)
            ack = client.subscribe(SubscribeMsg(self.cfg.xapp_id, self.cfg.node_ids,
                                                self.cfg.objective, self.transaction_id))
            self.health.subscribed = self._session_subscribed = True
            self.metrics.subscribed.set(1)
            if resumed:
                self.metrics.reconnects.inc()
            log.info("subscribed", channel_id=ack.channel_id, resumed=ack.resumed,
                     nodes=[n.node_id for n in ack.nodes])
            self.loop = SlotLoop(client, self.decider, self.metrics, self.health,
                                 self.observers, self.cfg.deadline_fraction, self.stats,
                                 self.last_seq, channel_id=ack.channel_id,
                                 node_ids=frozenset(n.node_id for n in ack.nodes),
                                 max_inflight=self.cfg.max_inflight_controls,
                                 batch_window_s=self.cfg.batch_window_ms / 1e3)
            self.loop.run(stop, max_slots)
        finally:
            if client is not None:
                client.close()
                if self.loop is not None and self.loop.client is client:
                    self.loop.sync_drops()  # what closing the client dropped, counted


def summary(app: XApp) -> dict[str, Any]:
    """The run summary (``rrm demo --json`` / ``rrm xapp run --json``)."""
    if app.references is not None:
        app.references.finish()
    return app.stats.summary(app.policy.name)
