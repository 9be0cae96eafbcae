"""The ``rrm`` command line (see :mod:`rrm.xapp.cli`)."""

from rrm.xapp.cli import main

__all__ = ["main"]
