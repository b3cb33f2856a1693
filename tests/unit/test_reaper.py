"""The reaper and the run registry, with real processes (no Ray): a fake harness starts
children that ignore SIGTERM, as Ray's node agents do, and then dies or ends normally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.procs.ledger import OWNED_FILE, OwnedProcess
from harness.procs.run_registry import RunEntry, clean_dead_runs, safe_temp_root

PROJECT_ROOT = Path(__file__).resolve().parents[2]

FAKE_HARNESS = textwrap.dedent("""
    import json, subprocess, sys, time
    from pathlib import Path
    from harness.procs.ledger import ProcessLedger
    from harness.procs.reaper import RunWatch
    runs, run_dir, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    # A child the host process had before the run (as when the harness runs inside pytest).
    before = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
    ledger = ProcessLedger("fake-run", run_dir / "owned_processes.json")
    watch = RunWatch.start("fake-run", run_dir, ledger, runs)
    # One child in its own session (like Locust), one with a grandchild (like a raylet's agents).
    a = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
    b = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', sys.argv[1]]); time.sleep(600)",
        stubborn])
    # b's own child started (awaited: on a busy machine it can take seconds), then time for the
    # reaper, which observes descendants about every second, to see the whole family.
    import psutil
    deadline = time.monotonic() + 60
    while not psutil.Process(b.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.5)
    ledger.snapshot_descendants()
    print(json.dumps({"reaper": watch.reaper_pid, "before": before.pid}), flush=True)
    if mode == "finish":
        watch.finish()
        print("finished", flush=True)
    time.sleep(600)
""")


def _start_fake(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int, list[OwnedProcess], OwnedProcess]:
    runs, run_dir = tmp_path / "runs", tmp_path / "run"
    run_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    fake = subprocess.Popen([sys.executable, "-c", FAKE_HARNESS, str(runs), str(run_dir), mode],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert fake.stdout is not None
    started = json.loads(fake.stdout.readline())
    reaper = started["reaper"]
    before = OwnedProcess.of(psutil.Process(started["before"]))
    assert before is not None
    children = [OwnedProcess.of(p) for p in psutil.Process(fake.pid).children(recursive=True)]
    family = [c for c in children if c is not None and c.pid not in (reaper, before.pid)]
    assert len(family) == 3, family
    return fake, reaper, family, before


def _kill_all(entries: list[OwnedProcess]) -> None:
    for entry in entries:
        proc = entry.live_process()
        if proc is not None:
            proc.kill()


# What is asserted is that the processes go, not how fast: `make test` runs these tests at the
# lowest CPU priority beside the cluster tests, where a reap took over 6 s once (2026-12-08).
GONE_WITHIN_S = 30.0


def _wait_gone(entries: list[OwnedProcess], timeout_s: float = GONE_WITHIN_S) -> list[OwnedProcess]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [e for e in entries if e.live_process() is not None]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def test_reaper_kills_the_run_when_the_harness_is_sigkilled(tmp_path: Path) -> None:
    fake, reaper, family, before = _start_fake(tmp_path, "die")
    reaper_entry = OwnedProcess.of(psutil.Process(reaper))
    try:
        fake.kill()
        fake.wait()
        assert _wait_gone(family) == [], "the run's processes outlived the harness"
        assert before.live_process() is not None, "a child from before the run is not the run's"
        assert reaper_entry is not None and _wait_gone([reaper_entry]) == [], "the reaper exits after reaping"
        log = (tmp_path / "run" / "reaper.log").read_text()
        assert "killed 3" in log, log
        assert not list((tmp_path / "runs").glob("*.json")), "the reaped run is forgotten"
    finally:
        _kill_all([*family, before])


def test_reaper_exits_without_killing_when_the_run_ends_normally(tmp_path: Path) -> None:
    fake, reaper, family, before = _start_fake(tmp_path, "finish")
    try:
        assert fake.stdout is not None and fake.stdout.readline().strip() == "finished"
        assert not psutil.pid_exists(reaper) or psutil.Process(reaper).status() == psutil.STATUS_ZOMBIE
        assert not list((tmp_path / "runs").glob("*.json"))
        fake.kill()
        fake.wait()
        time.sleep(1.5)
        assert all(e.live_process() is not None for e in family), "a finished run's reaper killed nothing"
    finally:
        _kill_all([*family, before])
        fake.kill()


def _sleeper(ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n" + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
    return subprocess.Popen([sys.executable, "-c", code + "time.sleep(600)"])


def test_clean_dead_runs_kills_only_what_a_dead_run_recorded(tmp_path: Path) -> None:
    runs, run_dir = tmp_path / "runs", tmp_path / "run"
    runs.mkdir()
    run_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone_ctime = psutil.Process(gone.pid).create_time()
    gone.wait()
    recorded, unrelated, recycled = _sleeper(ignore_term=True), _sleeper(), _sleeper()
    temp_root = Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))
    try:
        recorded_entry = OwnedProcess.of(psutil.Process(recorded.pid))
        assert recorded_entry is not None
        rows = [recorded_entry.__dict__,
                # The same pid with another start time is someone else's process.
                {"pid": recycled.pid, "create_time": psutil.Process(recycled.pid).create_time() - 50, "name": "x"}]
        (run_dir / OWNED_FILE).write_text(json.dumps({"processes": rows}))
        RunEntry(run_id="dead-run", harness_pid=gone.pid, harness_create_time=gone_ctime, run_dir=str(run_dir), temp_root=str(temp_root)).write(runs)
        me = psutil.Process()
        RunEntry(run_id="live-run", harness_pid=me.pid, harness_create_time=me.create_time(), run_dir=str(run_dir)).write(runs)

        reports = clean_dead_runs(runs, reaper_grace_s=0.1)

        assert [r.run_id for r in reports] == ["dead-run"]
        assert [p.pid for p in reports[0].killed] == [recorded.pid]
        assert "cleaned leftovers of dead run dead-run" in reports[0].line()
        assert recorded_entry.live_process() is None  # although it ignored SIGTERM
        assert unrelated.poll() is None and recycled.poll() is None
        assert not temp_root.exists()
        assert sorted(p.name for p in runs.glob("*.json")) == ["live-run.json"]
    finally:
        for proc in (recorded, unrelated, recycled):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("path", ["/etc", "/tmp", "/tmp/rh-x/../../etc", "/var/tmp/rh-x", "/tmp/other"])
def test_only_our_temp_roots_are_ever_removed(path: str) -> None:
    assert safe_temp_root(path) is None


def test_a_registry_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.procs import run_registry as registry

    other_uid = os.getuid() + 4242
    monkeypatch.setattr(registry.os, "getuid", lambda: other_uid)
    with pytest.raises(PermissionError, match="another user"):
        registry.ensure_runs_dir(tmp_path)


def test_harness_cleanup_reports_what_it_cleaned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(runs))
    assert main(["cleanup"]) == 0
    assert "no leftovers of dead runs" in capsys.readouterr().out
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = psutil.Process(gone.pid).create_time()
    gone.wait()
    RunEntry(run_id="dead-run", harness_pid=gone.pid, harness_create_time=ctime, run_dir=str(tmp_path)).write(runs)
    assert main(["cleanup"]) == 0
    assert "cleaned leftovers of dead run dead-run" in capsys.readouterr().out
    assert not list(runs.glob("*.json"))
