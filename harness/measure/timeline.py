"""The run's timeline: append-only JSON-lines streams on one clock.

Every process of a run writes its own stream in the run's `timeline/` folder
(the harness writes `events.jsonl`, the load process `requests.jsonl`), and every
record carries `t`, seconds since the epoch from `time.time()`, the one clock all
processes on this machine share. Each record is one line written whole and
flushed, so a crash leaves every complete line readable; a torn last line is
skipped by the reader.

Record kinds and their fields are declared in harness.measure.records (one class per
kind); the writer checks each record against its declaration.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measure.records import (
    Chaos,
    Phase,
    Record,
    Request,
    UndeclaredRecord,
    problems,
    strict,
)

TIMELINE_DIR = "timeline"
EVENTS_FILE = "events.jsonl"
REQUESTS_FILE = "requests.jsonl"


class TimelineWriter:
    """Appends records to one stream; safe to share between threads.

    Each record is one `write(2)` of one whole line to a file opened O_APPEND, with
    no user-space buffer: a crash at any moment leaves every earlier record
    complete, and nothing is left to flush at exit. A failed write (a full disk)
    never raises into the run: the first error is kept in `write_error` (the
    health guard turns it into an infrastructure error) and later records are
    dropped rather than appended after a torn line.

    Each record is checked against its declared kind (harness.measure.records): an
    undeclared kind or field raises UndeclaredRecord in strict mode (the tests), and is
    otherwise kept in `undeclared` while the record is written whole.

    One of the two JSONL writers, on purpose: the load process writes its streams with
    locustfiles.stream_writer.RecordWriter instead, buffered and flushed every 0.25 s with no
    lock, because there one write(2) and a lock per request would cost the generator the
    throughput it exists for (under gevent a lock is a greenlet primitive), while here
    the records are few, several threads write, and none may be lost to a crash.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.write_error: OSError | None = None
        self.undeclared: list[str] = []

    def emit(self, kind: type[Record] | str, t: float | None = None, **fields: Any) -> dict[str, Any]:
        name = kind if isinstance(kind, str) else kind.KIND
        record = {"t": time.time() if t is None else t, "kind": name, **fields}
        found = problems(record)
        if found:
            if strict():
                raise UndeclaredRecord("; ".join(found))
            if len(self.undeclared) < 20:
                self.undeclared.extend(found)
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is not None and self.write_error is None:
                try:
                    written = os.write(self._fd, line)
                    if written != len(line):
                        raise OSError(errno.ENOSPC, f"short write to {self.path} ({written} of {len(line)} bytes)")
                except OSError as exc:
                    self.write_error = exc
        return record

    def append_lines(self, data: bytes) -> None:
        """Whole records another process wrote, as they are (complete JSON lines).

        A worker's batch arrives already serialized and checked where it was written; it is
        appended like any record, and a failed write is kept in `write_error`.
        """
        with self._lock:
            if self._fd is None or self.write_error is not None:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                self.write_error = exc

    def phase(self, name: str, edge: str, t: float | None = None, **fields: Any) -> dict[str, Any]:
        return self.emit(Phase, t=t, name=name, edge=edge, **fields)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_stream(path: Path) -> Iterator[dict[str, Any]]:
    """Yield every complete record of a stream; a torn or garbled line is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn last line from a crash mid-write
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("t"), (int, float)):
                yield record


@dataclass(frozen=True)
class Window:
    name: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end}


class Timeline:
    """A whole run's timeline, read back for SLOs and reporters (read-only)."""

    def __init__(self, records: list[dict[str, Any]]):
        records.sort(key=lambda r: r["t"])
        self.requests = [r for r in records if r[Request.kind] == Request.KIND]
        self.events = [r for r in records if r[Request.kind] != Request.KIND]
        self.windows = self._collect_windows()

    @classmethod
    def load(cls, run_dir: Path) -> Timeline:
        folder = run_dir / TIMELINE_DIR
        records: list[dict[str, Any]] = []
        if folder.is_dir():
            for stream in sorted(folder.glob("*.jsonl")):
                records.extend(read_stream(stream))
        return cls(records)

    def _collect_windows(self) -> dict[str, Window]:
        starts: dict[str, float] = {}
        windows: dict[str, Window] = {}
        last_t = max((r["t"] for r in self.events + self.requests[-1:]), default=0.0)
        first_t = min((r["t"] for r in self.events + self.requests[:1]), default=0.0)
        for event in self.events:
            if event[Phase.kind] != Phase.KIND:
                continue
            name = event.get(Phase.name)
            if event.get(Phase.edge) == "start":
                starts[name] = event[Phase.t]
            elif event.get(Phase.edge) == "end" and name in starts:
                windows[name] = Window(name, starts.pop(name), event["t"])
        # A window still open when the run stopped ends at the last record.
        for name, start in starts.items():
            windows[name] = Window(name, start, max(last_t, start))
        windows.setdefault("run", Window("run", first_t, last_t))
        load = windows.get("load")
        if load is not None and "after_load" not in windows:
            windows["after_load"] = Window("after_load", load.end, max(last_t, load.end))
        return windows

    def window(self, name: str) -> Window | None:
        return self.windows.get(name)

    def requests_in(self, window: Window, final_only: bool = True) -> list[dict[str, Any]]:
        """Requests whose intended send time lies in the window."""
        return [
            r
            for r in self.requests
            if window.contains(r[Request.t]) and (r.get(Request.final, True) or not final_only)
        ]

    def events_of(self, kind: type[Record] | str, window: Window | None = None) -> list[dict[str, Any]]:
        name = kind if isinstance(kind, str) else kind.KIND
        return [
            e for e in self.events if e["kind"] == name and (window is None or window.contains(e["t"]))
        ]

    def shot_results(self, stored: bool = False) -> list[dict[str, Any]]:
        """Every chaos shot's final record (kind `chaos`, event `result`) in plan order (planned
        offset): the one source of chaos results. The SLOs judge these records, and summary.json's
        `artifacts.chaos_results` is this list `stored` (without the record's t, kind and event)."""
        results = [e for e in self.events_of(Chaos) if e.get(Chaos.event) == "result"]
        results.sort(key=lambda r: r.get(Chaos.offset_s) if isinstance(r.get(Chaos.offset_s), (int, float)) else 0.0)
        if stored:
            return [{k: v for k, v in r.items() if k not in (Chaos.t, Chaos.kind, Chaos.event)} for r in results]
        return results
