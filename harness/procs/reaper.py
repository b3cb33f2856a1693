"""A small watchdog process per run: when the harness dies, every process of the run dies too.

Ray on Linux ties only the processes the driver starts itself (raylet, GCS) to
the driver's death (PR_SET_PDEATHSIG), so it spawns no reaper of its own there;
the processes each raylet starts (DashboardAgent, RuntimeEnvAgent) and the
Locust process outlive a SIGKILLed harness. This reaper closes that gap:

- it runs in its own session, so a signal to the harness's process group or a
  Ctrl-C at the terminal does not reach it;
- while the harness lives, it records every descendant of the harness (but
  those the harness had before the run, as its ProcessLedger does) by
  (pid, start time) into the run's registry entry (`<run id>.seen.json`);
- when the harness's pipe closes without a "done" message, or the harness pid
  no longer runs with the recorded start time, it kills every recorded process
  still alive as recorded, removes the run's temp dir and its registry entry,
  and exits;
- on "done" (the run ended normally and tore down) it exits without killing.

Usage (started by RunWatch): python -m harness.procs.reaper RUNS_DIR RUN_ID
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from harness import PROJECT_ROOT
from harness.measure.records import LeftoversCleaned
from harness.procs.ledger import ProcessLedger
from harness.procs.run_registry import (
    RunEntry,
    clean_dead_runs,
    ensure_runs_dir,
    reap_run,
    runs_dir,
)

if TYPE_CHECKING:  # the reaper process itself stays light: no Ray, pydantic or rich
    from harness.model.context import RunContext

POLL_S = 0.25
OBSERVE_EVERY_S = 1.0
DONE = b"done\n"
REAPER_LOG = "reaper.log"


def _log(run_dir: str, message: str) -> None:
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} reaper[{os.getpid()}] {message}\n"
    try:
        with open(Path(run_dir) / REAPER_LOG, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError:
        pass  # a full or missing results dir must not stop the reaping
    sys.stderr.write(line)


def observer_for(entry: RunEntry, folder: Path) -> ProcessLedger:
    """The reaper's own record of the run: the harness's descendants, minus what it had before."""
    ledger = ProcessLedger(entry.run_id, RunEntry.seen_path_in(folder, entry.run_id),
                           root_pid=entry.harness_pid, foreign=entry.foreign)
    ledger.exclude(os.getpid())
    return ledger


def watch(folder: Path, run_id: str, control: int) -> int:
    entry = RunEntry.read(RunEntry.path_in(folder, run_id))
    if entry is None:
        return 2
    observer = observer_for(entry, folder)
    next_observe = 0.0
    reason = ""
    while not reason:
        readable, _, _ = select.select([control], [], [], POLL_S)
        if readable:
            data = os.read(control, 64)
            if data.startswith(DONE):
                return 0  # normal end: the harness tore down itself
            if not data:
                reason = "the harness's pipe closed without 'done'"
        if not reason and not entry.harness_alive():
            reason = f"harness pid {entry.harness_pid} is gone"
        if not reason and time.monotonic() >= next_observe:
            observer.snapshot_descendants()
            next_observe = time.monotonic() + OBSERVE_EVERY_S
    # The harness died: the entry on disk may have gained the temp root since we read it.
    latest = RunEntry.read(RunEntry.path_in(folder, run_id)) or entry
    report = reap_run(latest, folder, grace_s=1.0, extra=observer.owned())
    _log(latest.run_dir, f"{reason}: {report.line()}")
    return 0


class RunWatch:
    """The harness side: registry entry plus the reaper process watching this run."""

    def __init__(self, entry: RunEntry, folder: Path, process: subprocess.Popen[bytes] | None):
        self.entry = entry
        self.folder = folder
        self.process = process

    @classmethod
    def start(cls, run_id: str, run_dir: Path, ledger: ProcessLedger, folder: Path | None = None) -> RunWatch:
        folder = ensure_runs_dir(folder or runs_dir())
        me = psutil.Process()
        entry = RunEntry(run_id=run_id, harness_pid=me.pid, harness_create_time=me.create_time(), run_dir=str(run_dir), foreign=ledger.foreign)
        entry.write(folder)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.procs.reaper", str(folder), run_id],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=PROJECT_ROOT, env=env,
        )
        ledger.exclude(process.pid)  # teardown's sweep must not kill the watchdog
        try:
            entry.reaper_pid = process.pid
            entry.reaper_create_time = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:
            pass
        entry.write(folder)
        return cls(entry, folder, process)

    @property
    def reaper_pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def set_temp_root(self, temp_root: Path) -> None:
        self.entry.temp_root = str(temp_root)
        try:
            self.entry.write(self.folder)
        except OSError:
            pass

    def finish(self, timeout_s: float = 5.0) -> None:
        """The run ended and tore down: let the reaper go, forget the run. Never raises."""
        if self.process is not None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(DONE)
                self.process.stdin.close()
                self.process.wait(timeout=timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self.entry.forget(self.folder)


def protect_run(ctx: RunContext, notes: list[str]) -> RunWatch | None:
    """At run start: clean what dead runs left behind (one line each), then start this run's reaper.

    Without a registry or reaper (e.g. /tmp is full) the run goes on, unprotected
    against its own SIGKILL, and says so in `notes`.
    """
    try:
        for report in clean_dead_runs():
            ctx.console.print(f"[yellow]{report.line()}[/]")
            ctx.timeline.emit(LeftoversCleaned, line=report.line(), run=report.run_id,
                              killed=[p.pid for p in report.killed])
            notes.append(report.line())
        return RunWatch.start(ctx.run_id, ctx.run_dir, ctx.ledger)
    except OSError as exc:
        notes.append(f"no reaper for this run: {exc}")
        ctx.console.print(f"[yellow]warning: no reaper for this run: {exc}[/]")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.procs.reaper")
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    # Only the harness's pipe or its death end this process; terminal and group signals do not.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    return watch(args.runs_dir, args.run_id, sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main())
