"""Processes the run owns: recorded by (pid, start time), never found by name.

Ray's node processes are started as descendants of the harness process, but some
of them (each node's DashboardAgent and RuntimeEnvAgent) are re-parented when
their raylet dies and ignore SIGTERM. So the run snapshots its descendants while
they are still its descendants, and at teardown kills whatever of that record is
still alive with the same start time (a recycled pid is someone else's).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

OWNED_FILE = "owned_processes.json"


@dataclass(frozen=True)
class OwnedProcess:
    pid: int
    create_time: float
    name: str

    def live_process(self) -> psutil.Process | None:
        """The process if it is still the very one recorded, else None."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return None  # pid reused by an unrelated process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None


def _identity(proc: psutil.Process) -> tuple[int, float]:
    try:
        return proc.pid, proc.create_time()
    except psutil.NoSuchProcess:
        return proc.pid, 0.0


class ProcessLedger:
    """The set of processes a run started, persisted so a reaper can find them."""

    def __init__(self, run_id: str, record_path: Path | None = None, root_pid: int | None = None):
        self.run_id = run_id
        self.root_pid = root_pid or os.getpid()
        self.record_path = record_path
        self._owned: dict[tuple[int, float], OwnedProcess] = {}
        self._lock = threading.Lock()
        # Children the host process had before the run (e.g. a test's own cluster when
        # the harness runs inside pytest) are not the run's, nor is anything below them.
        self._foreign = {_identity(c) for c in self._children()}

    def add(self, proc: psutil.Process) -> None:
        try:
            entry = OwnedProcess(proc.pid, proc.create_time(), proc.name())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        with self._lock:
            self._owned[(entry.pid, entry.create_time)] = entry

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
        victims = {p.pid: p for p in self.alive()}
        if not victims:
            return []
        hit = [o for o in self.owned() if o.pid in victims]
        for proc in victims.values():
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, still = psutil.wait_procs(list(victims.values()), timeout=grace_s)
        for proc in still:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(still, timeout=grace_s)
        return hit

    def _persist(self) -> None:
        if self.record_path is None:
            return
        payload = {
            "run_id": self.run_id,
            "harness_pid": self.root_pid,
            "processes": [o.__dict__ for o in self.owned()],
        }
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, self.record_path)
