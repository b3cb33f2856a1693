"""tools/beside.py: `make test`'s no-cluster tests (fair share) then unit tests (lowest priority) beside the cluster pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools import beside

PY = sys.executable


def test_both_commands_run_and_the_background_output_is_printed_after(tmp_path: Path, capsys) -> None:
    log = tmp_path / "logs" / "unit.log"
    nice = "import os; print('niceness', os.nice(0)); print('session leader', os.getsid(0) == os.getpid())"
    code = beside.main(["--log", str(log), "--", PY, "-c", nice, "--", PY, "-c", "print('front')"])
    out = capsys.readouterr().out
    assert code == 0
    assert "niceness 19" in log.read_text() and "session leader True" in log.read_text()
    assert out.index("exit 0") < out.index("niceness 19")


def test_a_fair_first_stage_runs_in_its_own_session_at_our_nice_before_the_lowest_ones(tmp_path: Path, capsys) -> None:
    """The fair stage keeps the caller's niceness (0 from a shell; 19 where `make test` runs
    this file beside the cluster pass); each lowest stage (unit tests, then no-timing cluster
    tests in `make test`) is at 19 either way, in order."""
    import os

    ours = os.nice(0)
    log = tmp_path / "b.log"
    report = "import os, sys; print(sys.argv[1], 'niceness', os.nice(0), 'leader', os.getsid(0) == os.getpid())"
    code = beside.main(["--log", str(log), "--fair", PY, "-c", report, "first", "--", PY, "-c", report, "second",
                        "--", PY, "-c", report, "third", "--", PY, "-c", "print('front')"])
    text = log.read_text()
    assert code == 0
    assert f"first niceness {ours} leader True" in text
    assert "second niceness 19 leader True" in text and "third niceness 19 leader True" in text
    assert text.index("first niceness") < text.index("second niceness") < text.index("third niceness")
    assert capsys.readouterr().out.count(" then ") == 2  # the summary line names every stage


@pytest.mark.parametrize(("first", "second", "expected"), [(0, 0, 0), (3, 0, 3), (0, 2, 2), (3, 2, 3)])
def test_the_first_failing_background_stage_gives_the_status(tmp_path: Path, first: int, second: int,
                                                              expected: int) -> None:
    argv = ["--log", str(tmp_path / "b.log"), "--fair", PY, "-c", f"raise SystemExit({first})",
            "--", PY, "-c", f"raise SystemExit({second})", "--", PY, "-c", "pass"]
    assert beside.main(argv) == expected


@pytest.mark.parametrize(("front", "back", "expected"), [(0, 0, 0), (1, 0, 1), (0, 2, 2), (1, 2, 1)])
def test_the_exit_status_is_the_foregrounds_else_the_backgrounds(tmp_path: Path, front: int, back: int,
                                                                 expected: int) -> None:
    argv = ["--log", str(tmp_path / "b.log"), "--", PY, "-c", f"raise SystemExit({back})",
            "--", PY, "-c", f"raise SystemExit({front})"]
    assert beside.main(argv) == expected


@pytest.mark.parametrize("argv", [[], ["--log", "x", "--", "a"], ["--log", "x", "--", "--", "b"],
                                  ["--log", "x", "--", "a", "--"], ["x", "--", "a", "--", "b"],
                                  ["--log", "x", "--fair", "--", "a", "--", "b"],
                                  ["--log", "x", "--fair", "f", "--", "a"],
                                  ["--log", "x", "--fair", "f", "a", "b"],
                                  ["--log", "x", "--", "a", "--", "--", "b"]])
def test_a_malformed_command_line_says_how_to_call_it(argv: list[str]) -> None:
    with pytest.raises(SystemExit, match="usage: python tools/beside.py"):
        beside.parse(argv)


def test_terminated_it_stops_both_commands(tmp_path: Path) -> None:
    import subprocess
    import time
    import uuid

    import psutil

    marker = f"beside-test-{uuid.uuid4().hex}"
    sleeper = [PY, "-c", "import time; time.sleep(60)", marker]
    proc = subprocess.Popen([PY, str(Path(beside.__file__)), "--log", str(tmp_path / "b.log"), "--",
                             *sleeper, "--", *sleeper])

    def sleepers() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or []) == sleeper]

    try:
        deadline = time.monotonic() + 30
        while len(sleepers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sleepers()) == 2
        proc.terminate()
        assert proc.wait(10) == 128 + 15
        _gone, alive = psutil.wait_procs(sleepers(), timeout=10)
        assert alive == []
    finally:
        for left in sleepers():  # only this test's own sleepers (its unique marker)
            left.kill()
        if proc.poll() is None:
            proc.kill()


def test_terminated_during_the_fair_stage_it_starts_no_later_stage(tmp_path: Path) -> None:
    import subprocess
    import time

    started = tmp_path / "fair-started"
    later = tmp_path / "later-ran"
    fair = [PY, "-c", f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"]
    proc = subprocess.Popen([PY, str(Path(beside.__file__)), "--log", str(tmp_path / "b.log"), "--fair", *fair,
                             "--", PY, "-c", f"import pathlib; pathlib.Path({str(later)!r}).touch()",
                             "--", PY, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()
        proc.terminate()
        assert proc.wait(10) == 128 + 15
        assert not later.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
