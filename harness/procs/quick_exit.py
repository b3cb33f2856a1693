"""The `harness` process's own exit, without the interpreter's finalization.

By the time a command returns, everything it reports is on disk (written atomically, files
closed) and printed. A normal exit then tears down every module that Ray, Serve, pydantic and
grpc loaded, one object at a time: 0.3-0.9 s on the 2-core machine (docs/benchmarks.md),
part of every run's time to verdict. exit_now runs what can still matter in a normal exit
(the atexit handlers: Ray's shutdown, logging's flush; then stdout and stderr flushed) and
ends the process there. A thread that is not a daemon and still runs is waited for, as a
normal exit would: then the exit is a normal one.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def _others_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def exit_now(code: int | None) -> NoReturn:
    """End the process with `code` (None: 0), as sys.exit would, minus the interpreter's teardown."""
    code = 0 if code is None else int(code)
    if _others_running():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone (a pipe whose reader left): nothing to keep
            pass
    os._exit(code)
