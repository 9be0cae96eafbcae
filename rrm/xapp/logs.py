"""Structured logging for the xApp: see :mod:`rrm.core.logs` (the simulator's commands
configure it too, so it lives in core; this name stays for the xApp's own modules)."""

from rrm.core.logs import configure_logging, set_log_level

__all__ = ["configure_logging", "set_log_level"]
