"""The ``rrm`` command line: a lazy dispatcher over per-package command modules.

``rrm --help`` reads only the static table below; the chosen command's
module is imported to build its parser and run, so a command never pays for
another family's imports (``rrm solve --policy wmmse`` loads no torch).

Every command has ``--help``, exits 2 with a one-line reason on bad input
(any :class:`rrm.core.errors.RrmError`), and shows progress on long work.
Each command module exposes ``add_arguments(parser)``, which adds its flags
(or subcommands) and sets ``run`` to a callable ``(args) -> exit code``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import sys
from collections.abc import Callable, Sequence

# name -> (one-line help, "module:add_arguments"); the table is the whole CLI map.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("closed loop on loopback with the embedded defaults",
             "rrm.xapp.cli.demo:add_arguments"),
    "solve": ("power control for a batch of gains matrices", "rrm.models.cli:add_arguments"),
    "data": ("generate data sets", "rrm.sim.data_cli:add_arguments"),
    "sim": ("run the RAN simulator", "rrm.sim.cli:add_arguments"),
    "xapp": ("run the xApp", "rrm.xapp.cli.xapp_run:add_arguments"),
    "trace": ("record, replay, export, compare and report traces",
              "rrm.xapp.cli.trace:add_arguments"),
    "explain": ("explain one recorded decision (per link, guards, attention)",
                "rrm.xapp.cli.explain:add_arguments"),
    "gfm": ("GFM-RA: pretrain, finetune, eval, stats", "rrm.models.gfm.cli:add_arguments"),
    "diffusion": ("graph diffusion policy (seed 004): data, train, eval",
                  "rrm.models.diffusion.cli:add_arguments"),
    "egat": ("cell-free EGAT (seed 002): train, eval", "rrm.models.cellfree.cli:add_arguments"),
}

# Deprecated names (kept for one release): old command -> its new words.
ALIASES: dict[str, tuple[str, str]] = {
    "pretrain": ("gfm", "pretrain"),
    "finetune": ("gfm", "finetune"),
    "eval": ("gfm", "eval"),
    "diffusion-data": ("diffusion", "data"),
    "train-diffusion": ("diffusion", "train"),
    "eval-diffusion": ("diffusion", "eval"),
    "train-egat": ("egat", "train"),
    "eval-cellfree": ("egat", "eval"),
}


def _top_parser() -> argparse.ArgumentParser:
    """The command list for ``rrm --help`` and unknown-command errors (no imports)."""
    aliases = "\n".join(f"  {old:<16} -> rrm {' '.join(new)}" for old, new in ALIASES.items())
    parser = argparse.ArgumentParser(
        prog="rrm", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="AI-native radio resource management: simulator, policies and xApp.",
        epilog=f"deprecated aliases (removed in the next release):\n{aliases}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, _) in COMMANDS.items():
        commands.add_parser(name, help=text)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of command ``name`` (imports only that command's module)."""
    text, target = COMMANDS[name]
    module, function = target.split(":")
    add_arguments: Callable[[argparse.ArgumentParser], None] = getattr(
        importlib.import_module(module), function)
    parser = argparse.ArgumentParser(prog=f"rrm {name}", description=text)
    add_arguments(parser)
    return parser


def _canonical(argv: list[str]) -> list[str]:
    """``argv`` with a deprecated command name replaced, after one line on stderr."""
    if argv and argv[0] in ALIASES:
        new = ALIASES[argv[0]]
        print(f"rrm {argv[0]}: deprecated, use 'rrm {' '.join(new)}'", file=sys.stderr)
        return [*new, *argv[1:]]
    return argv


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a full command line (``argv`` without the program name)."""
    argv = _canonical(list(argv))
    name = _top_parser().parse_args(argv[:1]).command  # --help, no or unknown command: exits
    args = command_parser(name).parse_args(argv[1:])
    args.command = name
    args.argv = argv  # recorded in checkpoint metadata as the command that made them
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rrm`` console script; returns the exit code."""
    # A slot-loop process decides on small matrices within milliseconds: multi-threaded
    # BLAS only spins on the other core. Set before numpy is first imported (as
    # rrm.xapp does); an explicit OPENBLAS_NUM_THREADS in the environment wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    label = "rrm " + " ".join(itertools.takewhile(lambda t: not t.startswith("-"),
                                                  args.argv[:2]))
    from rrm.core.errors import RrmError

    try:
        return int(args.run(args) or 0)
    except RrmError as err:
        print(f"{label}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
