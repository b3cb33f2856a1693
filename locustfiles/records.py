"""Writes the load process's stream of the run timeline (requests.jsonl).

Lines are buffered and flushed every `flush_interval_s` and at quit, so a crash
loses at most that much; each line is written whole, so the reader never sees
half a record except the last.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any


class RecordWriter:
    def __init__(self, path: str, flush_interval_s: float = 0.25):
        self._file = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        self._lock = threading.Lock()
        self._interval = flush_interval_s
        self._last_flush = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            now = time.monotonic()
            if now - self._last_flush >= self._interval:
                self._file.flush()
                self._last_flush = now

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._file.close()
