"""Results are never half-written: atomic files survive SIGKILL mid-write, the timeline is
readable up to its last complete record, and no module writes a result file any other way."""

from __future__ import annotations

import ast
import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.files import write_atomic
from harness.measure.timeline import TimelineWriter, read_stream

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["harness", "locustfiles", "chaos"]
# The one place allowed to write a file in place: the atomic writer itself.
ALLOWED = {"harness/files.py"}

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from harness.model.outcome import RunOutcome
    from harness.report.junit import build_suite, write_junit
    from harness.report.summary import build_summary, write_summary
    folder = Path(sys.argv[1])
    n = 0
    while True:
        n += 1
        outcome = RunOutcome(run_id=f"run-{n}", scenario_name="kill", scenario_file="k.yaml", seed=n, run_dir=str(folder), started_at=1.0, ended_at=2.0)
        outcome.metrics = {f"m{i}": i * n for i in range(3000)}  # large enough to take a while
        outcome.notes = ["x" * 200] * 200
        write_summary(folder / "summary.json", build_summary(outcome, {"n": n}))
        write_junit(folder / "junit.xml", [build_suite(outcome)])
        print("wrote", flush=True)  # after every pair of files: the test kills after the k-th
""")


def test_sigkill_during_result_writing_leaves_parseable_files(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    rng = random.Random(8)
    seen_runs = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
        # Killed after a random number of finished writes (1-3), then a random moment into the
        # next: points that differ however loaded the machine is (parallel tests, other work).
        for _ in range(rng.randint(1, 3)):
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"wrote"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        summary = json.loads((tmp_path / "summary.json").read_text())  # never half a file
        seen_runs.add(summary["run_id"])
        suites = list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))
        assert suites and suites[0].name == "kill"
    assert len(seen_runs) > 1, "the writer was killed at different points"


def test_failed_atomic_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    write_atomic(target, '{"complete": true}\n')

    def full_disk(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_atomic(target, '{"complete": false, "half": ')
    assert json.loads(target.read_text()) == {"complete": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"], "no temp file is left behind"


APPENDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from harness.measure.timeline import TimelineWriter
    writer = TimelineWriter(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        writer.emit("workload", name="appender", event="progress", seq=n, blob="y" * 3000)
        if n == 50:
            print("going", flush=True)
""")


def test_sigkilled_timeline_is_readable_up_to_its_last_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"going"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(path, "ab") as handle:  # a torn last record, as a crash mid-write leaves it
        handle.write(b'{"t": 1.0, "kind": "sample", "seq": -1, "blob": "yyy')
    seqs = [r["seq"] for r in read_stream(path)]
    assert len(seqs) >= 50 and seqs == list(range(1, len(seqs) + 1))


def test_timeline_write_failure_is_kept_not_raised(tmp_path: Path) -> None:
    writer = TimelineWriter(tmp_path / "events.jsonl")
    writer.emit("error", message="first")
    fd = writer._fd
    assert fd is not None
    os.close(fd)
    writer._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    writer.emit("error", message="second")
    writer.emit("error", message="third")
    assert writer.write_error is not None and writer.write_error.errno == errno.ENOSPC
    writer.close()
    assert [r["message"] for r in read_stream(tmp_path / "events.jsonl")] == ["first"]


def _in_place_writes(path: Path) -> list[str]:
    """Calls that write a file in place (not append, not atomic replace)."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        if name in ("write_text", "write_bytes"):
            found.append(f"{where} {name}()")
        elif name in ("dump", "safe_dump") and len(node.args) >= 2:
            found.append(f"{where} {name}() into a file")
        elif name == "open" and isinstance(func, ast.Name):
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None)
            text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
            target = ast.unparse(node.args[0]).lower() if node.args else ""
            # A child process's output log is a stream, not a result that is read back.
            if any(flag in text for flag in "wx+") and "log" not in target:
                found.append(f"{where} open(mode={text!r})")
        elif name == "open" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "os":
            flags = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
            if "O_WRONLY" in flags and "O_APPEND" not in flags:
                found.append(f"{where} os.open({flags})")
    return found


def test_every_result_writer_is_atomic_or_append_only() -> None:
    offenders = []
    for folder in SOURCE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            if str(path.relative_to(PROJECT_ROOT)) not in ALLOWED:
                offenders += _in_place_writes(path)
    assert offenders == [], "write result files with harness.files.write_atomic: " + "; ".join(offenders)
