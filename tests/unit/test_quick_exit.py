"""harness.procs.quick_exit: the `harness` process ends without the interpreter's teardown, but
after its atexit handlers and with its output flushed; a running non-daemon thread still
gets a normal exit (it is waited for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import atexit, sys, threading, time
from pathlib import Path
from harness.procs.quick_exit import exit_now
out = Path(sys.argv[1])
atexit.register(lambda: out.with_suffix(".atexit").write_text("ran"))
class Finalized:
    def __del__(self):  # runs only if the interpreter tears its modules down
        out.with_suffix(".teardown").write_text("ran")
KEEP = Finalized()
if sys.argv[2] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), out.with_suffix(".thread").write_text("done"))).start()
sys.stdout.write("buffered, not yet flushed")
exit_now(3)
"""


def run_child(tmp: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, str(tmp / "out"), mode], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])


def test_exit_now_runs_atexit_flushes_and_skips_the_teardown(tmp_path: Path) -> None:
    done = run_child(tmp_path, "plain")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "buffered, not yet flushed"
    assert (tmp_path / "out.atexit").read_text() == "ran"
    assert not (tmp_path / "out.teardown").exists()  # the interpreter's teardown was skipped


def test_exit_now_waits_for_a_running_thread_as_a_normal_exit_does(tmp_path: Path) -> None:
    done = run_child(tmp_path, "thread")
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "out.thread").read_text() == "done"
    assert (tmp_path / "out.atexit").read_text() == "ran"
