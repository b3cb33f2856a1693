"""`--json`: one JSON document on stdout and nothing else; the human text goes to stderr.

While the command runs, file descriptor 1 points at stderr, so whatever prints to
stdout behind the harness's back (Ray's log forwarding, Serve, child processes that
inherit the descriptor) lands on stderr too. The document is written to the real
stdout once, at the end.
"""

from __future__ import annotations

import json
import os
import sys
from types import TracebackType
from typing import Any


class JsonStdout:
    def __init__(self) -> None:
        self.document: Any = None
        self._saved: int | None = None

    def emit(self, document: Any) -> None:
        """The document to print at the end (the last one given wins)."""
        self.document = document

    def __enter__(self) -> JsonStdout:
        sys.stdout.flush()
        self._saved = os.dup(1)
        os.dup2(2, 1)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        sys.stdout.flush()
        if self._saved is not None:
            os.dup2(self._saved, 1)
            os.close(self._saved)
            self._saved = None
        if self.document is not None:
            sys.stdout.write(json.dumps(self.document, indent=2, default=str) + "\n")
            sys.stdout.flush()
