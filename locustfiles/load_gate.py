"""The go of a load process started ahead (harness.load.process.LoadProcess.prestart).

The process imports Locust while the app becomes ready, then waits in Locust's init event for
the harness's go: one line on stdin naming where to send. Its load (the origin, the first
window) starts after the go, as it would have without the head start. Gevent-free: the
harness and its tests import the names.
"""

from __future__ import annotations

import os
import sys
from typing import Any

GATE_ENV = "HARNESS_LOAD_GATE"  # set: wait for the go
GATE_READY = "load process ready, waiting for the harness's go"  # logged when waiting (tests await it)


def gated() -> bool:
    return bool(os.environ.get(GATE_ENV))


def await_go(environment: Any) -> None:
    """Block until the go; stdin closed without one (the run ended before its load, or the
    harness died): quit at once, having sent nothing."""
    print(GATE_READY, file=sys.stderr, flush=True)
    line = sys.stdin.readline().strip()
    if not line:
        os._exit(0)
    environment.host = line
