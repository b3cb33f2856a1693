"""tools/beside.py: `make test`'s unit tests beside the cluster pass, at the lowest priority."""

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


@pytest.mark.parametrize(("front", "back", "expected"), [(0, 0, 0), (1, 0, 1), (0, 2, 2), (1, 2, 1)])
def test_the_exit_status_is_the_foregrounds_else_the_backgrounds(tmp_path: Path, front: int, back: int,
                                                                 expected: int) -> None:
    argv = ["--log", str(tmp_path / "b.log"), "--", PY, "-c", f"raise SystemExit({back})",
            "--", PY, "-c", f"raise SystemExit({front})"]
    assert beside.main(argv) == expected


@pytest.mark.parametrize("argv", [[], ["--log", "x", "--", "a"], ["--log", "x", "--", "--", "b"],
                                  ["--log", "x", "--", "a", "--"], ["x", "--", "a", "--", "b"]])
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
