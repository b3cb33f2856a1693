"""The line of a process's output that names why it failed.

A failed script or load process leaves a log; its verdict should quote the cause
(`ModuleNotFoundError: No module named 'pandas'`), not only point at the file.
Preference, from the end of the output: a Python exception line (what a traceback
ends with), then any line that says error, then the last line printed.
"""

from __future__ import annotations

import re
from pathlib import Path

# `ValueError: bad`, `ray.exceptions.RayTaskError(ValueError): ...`, `KeyboardInterrupt`
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)\b(?:\([^)]*\))?(?::.*)?$")
_ERROR_WORD = re.compile(r"\b(?:error|exception|fatal|failed)\b", re.IGNORECASE)
TAIL_BYTES = 64 * 1024  # the cause is at the end; a huge log is not read whole
MAX_CHARS = 300


def last_error_line(text: str) -> str | None:
    """The line of `text` most likely to name the failure, or None for empty output."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    for pattern in (_EXCEPTION, _ERROR_WORD):
        for line in reversed(lines):
            if pattern.search(line) if pattern is _ERROR_WORD else pattern.match(line):
                return line[:MAX_CHARS]
    return lines[-1][:MAX_CHARS]


def log_cause(path: Path) -> str | None:
    """last_error_line() of the end of a log file; None when it is empty or unreadable."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return last_error_line(text)
