"""Writes one load process's stream of the run timeline (requests.jsonl, requests-w<k>.jsonl).

Lines are buffered and flushed every `flush_interval_s` and at quit, so a crash
loses at most that much; each line is written whole, so the reader never sees
half a record except the last. The load process is single-threaded under gevent
and a write to a regular file never yields, so no lock is needed: Locust
monkey-patches threading, and a gevent lock per record costs throughput.

One of the two JSONL writers, on purpose: the harness process writes its stream with
harness.measure.timeline.TimelineWriter (one unbuffered write(2) per record under a
lock: few records, several threads, nothing lost to a crash); here a syscall per
request would cap the rate the load process can send, so it buffers, and a crash may
lose the last flush interval.
"""

from __future__ import annotations

import json
import time
from typing import Any

# One encoder for every record: json.dumps(..., separators=...) builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


class RecordWriter:
    def __init__(self, path: str, flush_interval_s: float = 0.25):
        self._file = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        self._interval = flush_interval_s
        self._last_flush = time.monotonic()
        self.written = 0  # records written: a worker's report says how many the harness must receive

    def write(self, record: dict[str, Any]) -> None:
        if self._file.closed:
            return
        self._file.write(_ENCODE(record) + "\n")
        self.written += 1
        now = time.monotonic()
        if now - self._last_flush >= self._interval:
            self._file.flush()
            self._last_flush = now

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
