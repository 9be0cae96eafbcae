"""Structured JSON logging (structlog) with a level changeable at run time."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
_current = {"level": logging.INFO}


def _filter_by_level(_: Any, method: str, event: MutableMapping[str, Any]
                     ) -> MutableMapping[str, Any]:
    if _LEVELS.get(method, logging.INFO) < _current["level"]:
        raise structlog.DropEvent
    return event


def configure_logging(level: str = "info", json_output: bool = True) -> None:
    """JSON lines on stderr (or a console renderer for people), filtered by level."""
    set_log_level(level)
    renderer = (structlog.processors.JSONRenderer() if json_output
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[_filter_by_level, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def set_log_level(level: str) -> None:
    """Change the level of every rrm logger immediately."""
    _current["level"] = _LEVELS.get(level, logging.INFO)
