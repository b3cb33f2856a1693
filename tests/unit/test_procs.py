"""Process ownership: only what the run started, by pid and start time."""

from __future__ import annotations

import subprocess
import sys

import psutil

from harness.procs.ledger import ProcessLedger

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_children_from_before_the_run_are_never_owned(tmp_path):
    before = subprocess.Popen(SLEEPER)
    try:
        ledger = ProcessLedger("r", tmp_path / "owned.json")
        mine = subprocess.Popen(SLEEPER)
        ledger.snapshot_descendants()
        owned = {o.pid for o in ledger.owned()}
        assert mine.pid in owned and before.pid not in owned
        hit = ledger.kill_survivors(grace_s=2)
        assert [o.pid for o in hit] == [mine.pid]
        assert mine.wait(timeout=5) is not None
        assert before.poll() is None  # untouched
    finally:
        before.kill()
        before.wait()


def test_recycled_pid_is_not_killed(tmp_path):
    ledger = ProcessLedger("r", tmp_path / "owned.json")
    proc = subprocess.Popen(SLEEPER)
    try:
        ledger.add(psutil.Process(proc.pid))
        entry = ledger.owned()[0]
        # Same pid, other start time: a different process from the ledger's point of view.
        ledger._owned = {(entry.pid, entry.create_time - 5): type(entry)(entry.pid, entry.create_time - 5, "x")}
        assert ledger.kill_survivors(grace_s=1) == []
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
