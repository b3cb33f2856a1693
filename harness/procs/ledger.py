"""Processes the run owns: recorded by (pid, start time), never found by name.

Ray's node processes are started as descendants of the harness process, but some
of them (each node's DashboardAgent and RuntimeEnvAgent) are re-parented when
their raylet dies and ignore SIGTERM. So the run snapshots its descendants while
they are still its descendants, and at teardown kills whatever of that record is
still alive with the same start time (a recycled pid is someone else's).

The same record is what the run's reaper (harness.procs.reaper) and the next run's
leftover cleanup (harness.procs.run_registry) read: they kill only (pid, start time) pairs
written here.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.files import write_json_atomic

OWNED_FILE = "owned_processes.json"
# Two readings of one process's start time differ by far less than this.
CREATE_TIME_TOLERANCE_S = 0.01


@dataclass(frozen=True)
class OwnedProcess:
    pid: int
    create_time: float
    name: str

    def live_process(self) -> psutil.Process | None:
        """The process if it is still the very one recorded, else None."""
        return live_process(self.pid, self.create_time)

    @classmethod
    def of(cls, proc: psutil.Process) -> OwnedProcess | None:
        try:
            return cls(proc.pid, proc.create_time(), proc.name())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OwnedProcess | None:
        try:
            return cls(int(data["pid"]), float(data["create_time"]), str(data.get("name", "?")))
        except (KeyError, TypeError, ValueError):
            return None


def live_process(pid: int, create_time: float) -> psutil.Process | None:
    """The process with this pid if it started at `create_time` and has not exited."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > CREATE_TIME_TOLERANCE_S:
            return None  # pid reused by an unrelated process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


# Ray's node agents outlive their raylet and ignore SIGTERM (seen in every run's teardown
# here): SIGTERM then the grace cost every teardown the whole grace.
IGNORES_SIGTERM = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _ignores_sigterm(proc: psutil.Process) -> bool:
    try:
        return proc.name().startswith(IGNORES_SIGTERM)
    except psutil.Error:
        return False


def kill_processes(entries: Iterable[OwnedProcess], grace_s: float = 2.0) -> list[OwnedProcess]:
    """SIGTERM, then SIGKILL, every entry still alive as recorded; returns those hit.

    Only processes of our own user are touched, whatever a record says.
    """
    uid = os.getuid()
    victims: dict[int, tuple[OwnedProcess, psutil.Process]] = {}
    for entry in entries:
        proc = entry.live_process()
        if proc is None or entry.pid == os.getpid():
            continue
        try:
            if proc.uids().real != uid:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        victims[entry.pid] = (entry, proc)
    procs = [proc for _, proc in victims.values()]
    for proc in procs:
        try:
            # A process known to ignore SIGTERM is killed at once: the grace would only be waited out.
            proc.kill() if _ignores_sigterm(proc) else proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still = psutil.wait_procs(procs, timeout=grace_s)
    for proc in still:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(still, timeout=grace_s)
    return [entry for entry, _ in victims.values()]


def read_owned(path: Path) -> list[OwnedProcess]:
    """Entries of an ownership record; an unreadable record is an empty one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    rows = data.get("processes", []) if isinstance(data, dict) else []
    entries = [OwnedProcess.from_dict(row) for row in rows if isinstance(row, dict)]
    return [e for e in entries if e is not None]


def _identity(proc: psutil.Process) -> tuple[int, float]:
    try:
        return proc.pid, proc.create_time()
    except psutil.NoSuchProcess:
        return proc.pid, 0.0


class ProcessLedger:
    """The set of processes a run started, persisted so a reaper can find them."""

    def __init__(
        self,
        run_id: str,
        record_path: Path | None = None,
        *,
        root_pid: int | None = None,
        foreign: Iterable[tuple[int, float]] | None = None,
    ):
        self.run_id = run_id
        self.root_pid = root_pid or os.getpid()
        self.record_path = record_path
        self._owned: dict[tuple[int, float], OwnedProcess] = {}
        self._excluded: set[int] = set()
        self._lock = threading.Lock()
        self._persisted: int | None = None
        # Children the host process had before the run (e.g. a test's own cluster when
        # the harness runs inside pytest) are not the run's, nor is anything below them.
        # A reaper watching the run from outside is handed the harness's list.
        if foreign is None:
            self._foreign = {_identity(c) for c in self._children()}
        else:
            self._foreign = {(int(pid), float(ctime)) for pid, ctime in foreign}

    @property
    def foreign(self) -> list[tuple[int, float]]:
        return sorted(self._foreign)

    def add(self, proc: psutil.Process) -> None:
        entry = OwnedProcess.of(proc)
        if entry is None:
            return
        with self._lock:
            if entry.pid not in self._excluded:
                self._owned[(entry.pid, entry.create_time)] = entry

    def exclude(self, pid: int) -> None:
        """Never record this descendant (the run's own reaper must outlive teardown)."""
        with self._lock:
            self._excluded.add(pid)
            self._owned = {k: v for k, v in self._owned.items() if v.pid != pid}
            self._persisted = None

    def excluded(self) -> set[int]:
        """Descendants never to be recorded (the run's reaper): not the run's work either."""
        with self._lock:
            return set(self._excluded)

    def _children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.root_pid).children()
        except psutil.NoSuchProcess:
            return []

    def snapshot_descendants(self) -> int:
        """Record every process the run started below the harness; returns how many are known."""
        for child in self._children():
            if _identity(child) in self._foreign:
                continue
            self.add(child)
            try:
                grandchildren = child.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in grandchildren:
                self.add(proc)
        self._persist()
        return len(self._owned)

    def owned(self) -> list[OwnedProcess]:
        with self._lock:
            return list(self._owned.values())

    def alive(self) -> list[psutil.Process]:
        return [p for p in (o.live_process() for o in self.owned()) if p is not None]

    def kill_survivors(self, grace_s: float = 2.0) -> list[OwnedProcess]:
        """SIGTERM, then SIGKILL, every recorded process still alive; returns those hit."""
        return kill_processes(self.owned(), grace_s)

    def _persist(self) -> None:
        if self.record_path is None:
            return
        with self._lock:
            if self._persisted == len(self._owned):
                return  # entries are only ever added: the record on disk is current
            self._persisted = len(self._owned)
        payload = {
            "run_id": self.run_id,
            "harness_pid": self.root_pid,
            "processes": [asdict(o) for o in self.owned()],
        }
        try:
            write_json_atomic(self.record_path, payload)
        except OSError:
            self._persisted = None  # a full disk must not stop the run; retried next time
