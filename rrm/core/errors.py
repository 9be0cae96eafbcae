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
