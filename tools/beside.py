"""Run one command in the foreground and others beside it, one after the other.

`make test` runs the serial cluster pass (a Ray cluster at a time: it keeps about one of
this machine's two cores busy) in the foreground and three test passes beside it:

- first, optionally (`--fair`), the integration tests that start no cluster: Locust runs
  whose latency and send times are asserted, so they must not starve. They get their own
  session, hence their own scheduler autogroup at the normal nice 0: Linux gives each busy
  autogroup an equal share of the CPU whatever runs inside it, so this stage and the
  cluster pass each keep at least one of the two cores;
- then the unit tests, and after them the cluster tests that assert no timing (marked
  `no_timing`: exit codes, messages, results written, nothing left running), each at the
  lowest CPU priority there is for a normal process: their own session and autogroup, the
  autogroup's nice set to 19, and nice 19 inside it (a Ray cluster started there inherits
  both). The timing-sensitive cluster tests keep the CPU they would have alone; these
  stages take the rest, and finish before the cluster pass does.

    python tools/beside.py --log FILE [--fair FIRST ...] -- BACKGROUND ... [-- BACKGROUND ...] -- FOREGROUND ...

The background output goes to FILE and is printed after the foreground ends. The exit status
is the foreground's, or else the first failing background stage's. Interrupted (SIGINT,
SIGTERM), the running background stage's process group is stopped too (it has its own
session: a terminal's Ctrl-C does not reach it) and no later stage starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

USAGE = "usage: python tools/beside.py --log FILE [--fair FIRST ...] -- BACKGROUND ... [-- BACKGROUND ...] -- FOREGROUND ..."


def _fair_priority() -> None:
    """In the child before exec: its own session, hence its own autogroup (nice 0)."""
    os.setsid()


def _lowest_priority() -> None:
    """In the child before exec: its own session and autogroup, both at nice 19."""
    os.setsid()
    try:
        Path("/proc/self/autogroup").write_text("19")
    except OSError:
        pass  # no autogroups here (another OS, a kernel without them): nice alone
    os.nice(19)


@dataclass
class Stage:
    command: list[str]
    lowest: bool  # False: the fair stage


def parse(argv: list[str]) -> tuple[Path, list[Stage], list[str]]:
    if len(argv) < 5 or argv[0] != "--log" or argv[1] == "--":
        raise SystemExit(USAGE)
    log, rest = Path(argv[1]), argv[2:]
    stages: list[Stage] = []
    if rest and rest[0] == "--fair":
        if "--" not in rest:
            raise SystemExit(USAGE)
        end = rest.index("--")
        stages.append(Stage(rest[1:end], lowest=False))
        rest = rest[end:]
    if not rest or rest[0] != "--" or "--" not in rest[1:]:
        raise SystemExit(USAGE)
    # `-- A -- B ... -- FOREGROUND`: every segment but the last is a lowest-priority stage.
    segments: list[list[str]] = []
    for token in rest:
        if token == "--":
            segments.append([])
        else:
            segments[-1].append(token)
    *background, foreground = segments
    stages += [Stage(command, lowest=True) for command in background]
    if not foreground or not all(stage.command for stage in stages):
        raise SystemExit(USAGE)
    return log, stages, foreground


class Background:
    """The background stages, one after the other, on a thread of their own."""

    def __init__(self, stages: list[Stage], out: BinaryIO):
        self.stages, self.out = stages, out
        self.codes: list[int] = []
        self._current: subprocess.Popen | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="beside", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for stage in self.stages:
            with self._lock:
                if self._stopped:
                    return
                self.out.write(f"--- {' '.join(stage.command)} ---\n".encode())
                self.out.flush()
                self._current = subprocess.Popen(
                    stage.command, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=_lowest_priority if stage.lowest else _fair_priority)
            self.codes.append(self._current.wait())

    def wait(self) -> int:
        self._thread.join()
        return next((code for code in self.codes if code), 0)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            proc = self._current
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this script started (setsid: pgid == pid)
            except ProcessLookupError:
                pass


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through main's `finally`: the background is stopped too


def main(argv: list[str]) -> int:
    log, stages, foreground = parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        beside = Background(stages, out)
        beside.start()
        try:
            front_code = subprocess.call(foreground)
            back_code = beside.wait()
        finally:
            beside.stop()
    names = " then ".join(" ".join(stage.command) for stage in stages)
    print(f"--- beside the cluster pass: {names} (exit {back_code}) ---", flush=True)
    sys.stdout.write(log.read_text(errors="replace"))
    sys.stdout.flush()
    return front_code or back_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
