"""Typed errors raised at the simulator's boundaries.

Each carries a one-line message a user can act on; the CLI turns them into
exit code 2 and that line.
"""


class RrmError(Exception):
    """Base of every error rrm reports to a user as one line."""


class ConfigError(RrmError):
    """A configuration value is missing, of the wrong type or out of range."""


class InvalidInput(RrmError):
    """An array or parameter given by a caller is malformed (shape, NaN, sign...)."""


class UnknownName(RrmError):
    """A name (scenario, catalog entry, objective, policy) is not registered."""


class InvalidMessage(InvalidInput):
    """A wire message could not be decoded or fails validation (cause INVALID_MESSAGE)."""


class ProtocolMismatch(RrmError):
    """The two sides of the E2 interface speak different protocol versions."""


class CheckpointError(RrmError):
    """A checkpoint is missing, truncated, tampered with or of an unknown kind."""


MAX_DETAIL_CHARS = 200  # longest error detail a log line or a wire cause carries, characters


def clip(text: object, limit: int = MAX_DETAIL_CHARS) -> str:
    """``str(text)`` cut to ``limit`` characters (marked with '...'): the one bound on
    log fields and wire details that may embed what a peer sent (shapes, sizes, names)."""
    s = str(text)
    return s if len(s) <= limit else s[: max(0, limit - 3)] + "..."
