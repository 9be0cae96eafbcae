"""The rrm dispatcher: a static command table, lazy imports, deprecated aliases."""

import subprocess
import sys

import pytest

from rrm.cli import ALIASES, COMMANDS, main, parse_args

HEAVY = {"torch", "numpy", "scipy", "matplotlib", "h5py", "grpc", "zmq", "cvxpy"}


def rrm(*args):
    return subprocess.run([sys.executable, "-m", "rrm", *args], capture_output=True,
                          text=True, timeout=120)


def test_help_lists_every_command_and_alias_and_imports_nothing_heavy():
    probe = ("import sys\nfrom rrm.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    *help_lines, modules = done.stdout.strip().splitlines()
    text = "\n".join(help_lines)
    assert all(name in text for name in [*COMMANDS, *ALIASES])
    assert not HEAVY & {m.split(".")[0] for m in modules.split()}


def test_console_script_runs_with_help():
    for args in (["--help"], ["solve", "--help"], ["sim", "serve", "--help"]):
        result = rrm(*args)
        assert result.returncode == 0 and "usage" in result.stdout


# The command contract: every command and its subcommands (docs/architecture.md).
SUBCOMMANDS = {"demo": [], "solve": [], "data": ["gen"], "sim": ["serve"], "xapp": ["run"],
               "trace": ["record", "replay", "export", "compare", "report"], "explain": [],
               "gfm": ["pretrain", "finetune", "eval"], "diffusion": ["data", "train", "eval"],
               "egat": ["train", "eval"]}


def test_the_table_holds_exactly_the_documented_commands():
    assert list(COMMANDS) == list(SUBCOMMANDS)
    assert all(" " not in old and new[1] in SUBCOMMANDS[new[0]] for old, new in ALIASES.items())


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_command_and_subcommand_has_help(name, capsys):
    for words in [[name, sub] for sub in SUBCOMMANDS[name]] or [[name]]:
        with pytest.raises(SystemExit) as done:
            main([*words, "--help"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and out.startswith(f"usage: rrm {' '.join(words)}")


@pytest.mark.parametrize("old, new", list(ALIASES.items()))
def test_old_names_run_the_new_command_after_one_deprecation_line(old, new, capsys):
    with pytest.raises(SystemExit) as done:
        main([old, "--help"])
    captured = capsys.readouterr()
    assert done.value.code == 0
    assert captured.err == f"rrm {old}: deprecated, use 'rrm {' '.join(new)}'\n"
    assert captured.out.startswith(f"usage: rrm {' '.join(new)}")


def test_an_alias_records_the_new_command_line():
    args = parse_args(["train-egat", "--out", "x"])
    assert args.argv == ["egat", "train", "--out", "x"] and args.command == "egat"


def test_an_alias_reports_errors_like_the_new_command(capsys):
    assert main(["train-egat", "--out", "x", "--margin", "1.5"]) == 2
    deprecation, error = capsys.readouterr().err.strip().splitlines()
    assert deprecation == "rrm train-egat: deprecated, use 'rrm egat train'"
    assert error.startswith("rrm egat train: error: --margin")


@pytest.mark.parametrize("argv", [[], ["bogus"], ["gfm"], ["gfm", "bogus"]])
def test_missing_or_unknown_commands_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and "usage: rrm" in capsys.readouterr().err
