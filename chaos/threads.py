"""One short-lived thread per injection or cleanup, joined at stop.

A thread pool would queue a shot behind slow work (an actor that takes seconds to
start, a graceful node stop): a fresh thread per job starts in well under a
millisecond and keeps every shot on its own time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class ThreadGroup:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._count = 0

    def spawn(self, target: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            self._count += 1
            thread = threading.Thread(target=target, args=args, name=f"{self.prefix}-{self._count}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout_s: float) -> list[str]:
        """Wait for every thread up to one shared deadline; returns the names still running."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]
