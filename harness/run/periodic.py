"""A callback on its own thread at a steady cadence: the loop every sampler shares.

The next call is due one interval after the previous one was due (not after it ended),
so a slow call shortens the wait instead of drifting the cadence; a call that overruns
a whole interval is followed at once, never by a burst of catch-up calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Periodic:
    def __init__(self, interval_s: float, call: Callable[[], None], name: str):
        self.interval_s = interval_s
        self.call = call
        self.name = name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            self.call()
            next_at = max(next_at + self.interval_s, time.monotonic())
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to end and wait up to timeout_s for the call in progress."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
