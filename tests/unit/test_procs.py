"""Process ownership: only what the run started, by pid and start time."""

from __future__ import annotations

import subprocess
import sys
import time

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


# A stand-in for Ray's node agent: named as Ray names it, deaf to SIGTERM.
DEAF_AGENT = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "open('/proc/self/comm', 'w').write('ray::DashboardA'); print('ready', flush=True); time.sleep(60)")


def test_a_node_agent_deaf_to_sigterm_is_killed_at_once_not_after_the_grace(tmp_path):
    ledger = ProcessLedger("r", tmp_path / "owned.json")
    agent = subprocess.Popen(["bash", "-c", f'exec -a ray::DashboardAgent "{sys.executable}" -c "{DEAF_AGENT}"'],
                             stdout=subprocess.PIPE, text=True)
    deaf = subprocess.Popen([sys.executable, "-c", DEAF_AGENT.replace("ray::DashboardA", "other")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout.readline() == "ready\n" and deaf.stdout.readline() == "ready\n"
        assert psutil.Process(agent.pid).name() == "ray::DashboardAgent"
        ledger.add(psutil.Process(agent.pid))
        started = time.monotonic()
        assert [o.pid for o in ledger.kill_survivors(grace_s=3)] == [agent.pid]
        assert time.monotonic() - started < 1.5  # not the 3 s grace
        assert agent.wait(timeout=5) is not None  # gone (kill_survivors reaped it)
        # Any other process deaf to SIGTERM still gets the whole grace before its SIGKILL.
        ledger = ProcessLedger("r2", tmp_path / "owned2.json")
        ledger.add(psutil.Process(deaf.pid))
        started = time.monotonic()
        ledger.kill_survivors(grace_s=1)
        assert time.monotonic() - started >= 1.0 and deaf.wait(timeout=5) is not None
    finally:
        for proc in (agent, deaf):
            proc.kill()
            proc.wait()
