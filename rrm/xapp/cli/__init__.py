"""The ``rrm`` command line.

Every command has ``--help``, exits 2 with a one-line reason on bad input
(any :class:`rrm.core.errors.RrmError`), and shows progress on long work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rrm.core.errors import RrmError
from rrm.xapp.cli import (
    cellfree,
    data,
    demo,
    diffusion,
    evaluate,
    sim_serve,
    solve,
    trace,
    train,
    xapp_run,
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="rrm",
        description="AI-native radio resource management: simulator, policies and xApp.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(commands)
    solve.add_parser(commands)
    data.add_parser(commands)
    sim_serve.add_parser(commands)
    xapp_run.add_parser(commands)
    trace.add_parser(commands)
    train.add_parsers(commands)
    evaluate.add_parser(commands)
    diffusion.add_parsers(commands)
    cellfree.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rrm`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in checkpoint metadata as the command that made them
    try:
        return int(args.run(args) or 0)
    except RrmError as err:
        print(f"rrm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rrm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
