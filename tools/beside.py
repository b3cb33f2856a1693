"""Run one command in the foreground and another beside it on the CPU it leaves idle.

`make test` runs the serial cluster pass (a Ray cluster at a time: it keeps about one of
this machine's two cores busy) in the foreground and the unit tests beside it. The unit
tests get the lowest CPU priority there is for a normal process: their own session, hence
their own scheduler autogroup (Linux gives each autogroup an equal share whatever the
niceness inside it), with the autogroup's nice set to 19, and nice 19 inside it. The
timing-sensitive cluster tests keep the CPU they would have alone; the unit tests take the
rest, and finish long before the cluster pass does.

    python tools/beside.py --log FILE -- BACKGROUND ... -- FOREGROUND ...

The background output goes to FILE and is printed after the foreground ends. The exit status
is the foreground's, or the background's where the foreground passed. Interrupted (SIGINT,
SIGTERM), the background's process group is stopped too (it has its own session: a terminal's
Ctrl-C does not reach it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

USAGE = "usage: python tools/beside.py --log FILE -- BACKGROUND ... -- FOREGROUND ..."


def _lowest_priority() -> None:
    """In the child before exec: its own session and autogroup, both at nice 19."""
    os.setsid()
    try:
        Path("/proc/self/autogroup").write_text("19")
    except OSError:
        pass  # no autogroups here (another OS, a kernel without them): nice alone
    os.nice(19)


def parse(argv: list[str]) -> tuple[Path, list[str], list[str]]:
    if len(argv) < 5 or argv[0] != "--log" or argv[2] != "--" or "--" not in argv[3:]:
        raise SystemExit(USAGE)
    split = argv.index("--", 3)
    background, foreground = argv[3:split], argv[split + 1:]
    if not background or not foreground:
        raise SystemExit(USAGE)
    return Path(argv[1]), background, foreground


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group this script started (setsid: pgid == pid)
        except ProcessLookupError:
            pass


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through main's `finally`: the background is stopped too


def main(argv: list[str]) -> int:
    log, background, foreground = parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        beside = subprocess.Popen(background, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  preexec_fn=_lowest_priority)
    try:
        front_code = subprocess.call(foreground)
        back_code = beside.wait()
    finally:
        _stop_group(beside)
    print(f"--- beside the cluster pass: {' '.join(background)} (exit {back_code}) ---", flush=True)
    sys.stdout.write(log.read_text(errors="replace"))
    sys.stdout.flush()
    return front_code or back_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
