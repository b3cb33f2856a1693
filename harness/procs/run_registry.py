"""The registry of live runs on this machine, and the cleanup of runs that died.

Each run writes `<runs dir>/<run id>.json` at start (the harness's pid and start
time, its reaper's, the run's results and temp dirs) and removes it when it ends.
Its reaper keeps `<run id>.seen.json`: every descendant of the harness it saw.
An entry whose harness is no longer alive is a run that died: its recorded
processes (by pid and start time only) are killed and its temp dir removed.
Processes that no entry records are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.files import copy_session_logs, write_json_atomic
from harness.procs.ledger import OWNED_FILE, OwnedProcess, kill_processes, live_process, read_owned

RUNS_DIR_ENV = "HARNESS_RUNS_DIR"
DEFAULT_RUNS_DIR = Path(tempfile.gettempdir()) / "ray-harness-runs"
TEMP_ROOT_PREFIX = "rh-"
LOCK_FILE = ".lock"  # harness.cluster.local.make_temp_root


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def ensure_runs_dir(path: Path) -> Path:
    """Create the registry dir private to us; refuse one another user controls."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; set {RUNS_DIR_ENV} to a dir of yours")
    return path


@dataclass(kw_only=True)
class RunEntry:
    run_id: str
    harness_pid: int
    harness_create_time: float
    run_dir: str
    temp_root: str | None = None
    reaper_pid: int | None = None
    reaper_create_time: float | None = None
    # Children the harness process had before the run (pid, start time): not the run's.
    foreign: list[tuple[int, float]] = field(default_factory=list)

    @staticmethod
    def path_in(folder: Path, run_id: str) -> Path:
        return folder / f"{run_id}.json"

    @staticmethod
    def seen_path_in(folder: Path, run_id: str) -> Path:
        return folder / f"{run_id}.seen.json"

    def write(self, folder: Path) -> None:
        write_json_atomic(self.path_in(folder, self.run_id), asdict(self))

    @classmethod
    def read(cls, path: Path) -> RunEntry | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    def harness_alive(self) -> bool:
        return live_process(self.harness_pid, self.harness_create_time) is not None

    def reaper_alive(self) -> bool:
        if self.reaper_pid is None or self.reaper_create_time is None:
            return False
        return live_process(self.reaper_pid, self.reaper_create_time) is not None

    def recorded_processes(self, folder: Path) -> list[OwnedProcess]:
        """The run's ledger and what its reaper saw, without duplicates."""
        found: dict[tuple[int, float], OwnedProcess] = {}
        sources = [self.seen_path_in(folder, self.run_id), Path(self.run_dir) / OWNED_FILE]
        for source in sources:
            for entry in read_owned(source):
                found.setdefault((entry.pid, round(entry.create_time, 2)), entry)
        if self.reaper_pid is not None and self.reaper_create_time is not None:
            found.setdefault(
                (self.reaper_pid, round(self.reaper_create_time, 2)),
                OwnedProcess(self.reaper_pid, self.reaper_create_time, "harness-reaper"),
            )
        return list(found.values())

    def forget(self, folder: Path) -> None:
        for path in (self.path_in(folder, self.run_id), self.seen_path_in(folder, self.run_id)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


@dataclass(kw_only=True)
class ReapReport:
    run_id: str
    harness_pid: int
    killed: list[OwnedProcess]
    removed_temp: str | None

    def line(self) -> str:
        names = ", ".join(f"{p.name}({p.pid})" for p in self.killed) or "no live process"
        text = (f"cleaned leftovers of dead run {self.run_id} (harness pid {self.harness_pid} is gone): "
                f"killed {len(self.killed)} [{names}]")
        if self.removed_temp:
            text += f", removed {self.removed_temp}"
        return text


def safe_temp_root(path: str | None) -> Path | None:
    """A temp root we made (`/tmp/rh-*`), never any other path a record might name."""
    if not path:
        return None
    candidate = Path(path)
    if candidate.parent.resolve() != Path(tempfile.gettempdir()).resolve():
        return None
    if not candidate.name.startswith(TEMP_ROOT_PREFIX) or candidate.is_symlink():
        return None
    return candidate


def reap_run(
    entry: RunEntry,
    folder: Path,
    grace_s: float = 1.0,
    extra: list[OwnedProcess] | None = None,
) -> ReapReport:
    """Kill every recorded process of a run still alive, remove its temp dir, forget it.

    `extra` adds processes known only in memory (the reaper's own observations).
    """
    recorded = {(p.pid, round(p.create_time, 2)): p for p in entry.recorded_processes(folder)}
    for proc in extra or []:
        recorded.setdefault((proc.pid, round(proc.create_time, 2)), proc)
    killed = kill_processes(recorded.values(), grace_s=grace_s)
    removed = None
    temp_root = safe_temp_root(entry.temp_root)
    if temp_root is not None and temp_root.is_dir():
        if Path(entry.run_dir).is_dir():
            try:
                copy_session_logs(temp_root / "ray", Path(entry.run_dir) / "ray_logs")
            except OSError:
                pass  # logs are a courtesy; the cleanup is not
        shutil.rmtree(temp_root, ignore_errors=True)
        removed = str(temp_root)
    entry.forget(folder)
    return ReapReport(run_id=entry.run_id, harness_pid=entry.harness_pid, killed=killed, removed_temp=removed)


def clean_dead_runs(folder: Path | None = None, reaper_grace_s: float = 5.0) -> list[ReapReport]:
    """Reap every registered run whose harness is dead; live runs are left alone.

    A dead run whose reaper is still at work gets `reaper_grace_s` to finish first.
    """
    folder = folder or runs_dir()
    if not folder.is_dir():
        return []
    # Two runs starting at once must not both reap (and both report) the same dead run.
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _clean_locked(folder, reaper_grace_s)


def _clean_locked(folder: Path, reaper_grace_s: float) -> list[ReapReport]:
    reports = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".seen.json"):
            continue
        entry = RunEntry.read(path)
        if entry is None or entry.harness_alive():
            continue
        deadline = time.monotonic() + reaper_grace_s
        while entry.reaper_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not path.exists():
            continue  # its reaper finished the job
        reports.append(reap_run(entry, folder))
    return reports
