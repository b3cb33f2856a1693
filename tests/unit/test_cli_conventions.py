"""One CLI convention: every argument has help text, every command's help ends with its
exit codes, every command that prints a result takes --json, and the shell completion is
generated from this same parser."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from harness.cli import build_parser

# Commands whose output is not a result: a script or a document of their own.
NO_JSON = {"schema", "completion"}


def commands(parser: argparse.ArgumentParser, prefix: str = "harness") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command's parser, depth first."""
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, f"{prefix} {name}")
    return found


def leaves() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(name, p) for name, p in commands(build_parser())
            if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]


def test_every_argument_has_help_text() -> None:
    missing = [f"{name}: {'/'.join(action.option_strings) or action.dest}"
               for name, parser in commands(build_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction)
               and (action.help is None or not action.help.strip())]
    assert missing == []


def test_every_command_lists_its_exit_codes() -> None:
    for name, parser in commands(build_parser()):
        epilog = parser.epilog or ""
        assert "exit codes:" in epilog, f"{name}: no exit codes in --help"
        assert " 0 " in epilog and " 2 " in epilog, f"{name}: {epilog!r}"


def test_every_command_that_prints_a_result_takes_json() -> None:
    missing = [name for name, parser in leaves()
               if name.split()[-1] not in NO_JSON
               and "--json" not in {s for a in parser._actions for s in a.option_strings}]
    assert missing == []


def test_help_output_shows_the_exit_codes_unwrapped() -> None:
    text = build_parser().format_help()
    assert "exit codes:" in text and "\n  3 " in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_comes_from_the_parser(shell: str, capsys) -> None:
    from harness.cli import main

    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for name, _parser in leaves():
        assert name.split()[1] in script
    assert "--summary-md" in script and "--seed-from" in script
    if shell == "bash":
        done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr


def test_help_runs_for_every_command() -> None:
    for name, parser in leaves():
        assert "exit codes:" in parser.format_help(), name
    done = subprocess.run([sys.executable, "-m", "harness", "suite", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "exit codes:" in done.stdout


def test_run_refs_are_paths_ids_or_latest_alike(tmp_path, capsys) -> None:
    """`compare latest latest` (exit 2 before), a run id, a folder: the same run."""
    from harness.cli import main
    from tests.synthetic_run import make_run

    run = make_run(tmp_path / "results")
    (tmp_path / "results" / "latest").symlink_to(run.name)
    results = str(tmp_path / "results")
    assert main(["compare", "latest", "latest", "--results", results]) == 0
    assert main(["compare", run.name, str(run), "--results", results, "--json"]) == 0
    assert main(["report", "latest", "--results", results]) == 0
    capsys.readouterr()
    assert main(["reproduce", "no-such-run", "--results", results]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"no-such-run: expected a run directory, or a run id under {results}/"
