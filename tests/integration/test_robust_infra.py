"""The harness's own parts failing mid-run end the run as infrastructure errors (exit 3) with the cause."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.robust_support import (
    HEAD_ONLY,
    HarnessRun,
    junit_errors,
    kill_leftovers,
    wait_for,
)

pytestmark = pytest.mark.integration
# HEAD_ONLY: the parts killed or filled here are the load, the head's gcs_server, the app
# and the results disk; none needs short.yaml's second node.


def _assert_infra_error(run: HarnessRun, code: int, kind: str, fragment: str, run_dir: Path | None = None) -> dict:
    out = run.output()
    assert code == 3, out[-3000:]
    run_dir = run_dir or run.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["error"]["kind"] == kind, summary["error"]
    assert fragment in summary["error"]["message"], summary["error"]
    assert any(m.startswith(f"{kind}:") for m in junit_errors(run_dir / "junit.xml"))
    return summary


def _finish(run: HarnessRun, timeout_s: float = 120) -> int:
    try:
        return run.wait(timeout_s)
    finally:
        if run.has_run_dir():
            kill_leftovers(run.recorded())


@pytest.mark.parametrize(("victim", "kind", "cause"), [
    ("-m locust", "load", "locust process died (killed by SIGKILL)"),  # the load process
    ("gcs_server", "cluster_lost", "the head node's gcs_server"),  # the driver's cluster
], ids=["locust-dies", "cluster-lost"])
@pytest.mark.no_timing  # exit 3 and its cause, nothing else
def test_a_part_killed_mid_run(tmp_path: Path, victim: str, kind: str, cause: str) -> None:
    run = HarnessRun(tmp_path, kind, "duration_s=30", HEAD_ONLY)
    wait_for(run.load_started, 120, "load to start")
    run.child_named(victim).kill()
    code = _finish(run)
    _assert_infra_error(run, code, kind, cause)
    # Polls failing during teardown must not make Ray join another cluster on the machine.
    assert "Connecting to existing Ray cluster" not in run.output()


@pytest.mark.no_timing  # the configured timeout's message, no measured time
def test_app_never_ready(tmp_path: Path) -> None:
    # 15 s, not 2: Serve's own start counts against this timeout; on a busy 2-core machine it
    # took over 2 s ("Serve did not start within 2s", 2026-12-07), and `make test` runs this
    # test at the lowest CPU priority. The replicas take 60 s to start: never ready in time.
    run = HarnessRun(tmp_path, "notready", "app.builtin.startup_delay_s=60", "app.ready_timeout_s=15", HEAD_ONLY)
    code = _finish(run)
    summary = _assert_infra_error(run, code, "app_not_ready", "not ready after 15s")
    assert summary["verdicts"] == [] or all(not v["passed"] for v in summary["verdicts"])


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 64 MB filesystem (tmpfs) for the results; needs root."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder: Path) -> None:
    """Fill the filesystem of `folder` to the last byte."""
    with open(folder / "filler", "wb") as handle:
        free = shutil.disk_usage(folder).free
        try:
            os.posix_fallocate(handle.fileno(), 0, max(1, free))
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.mark.no_timing  # where the results land, no time
def test_disk_fills_mid_run(tmp_path: Path, small_disk: Path) -> None:
    fallback_root = tmp_path / "tmp"
    fallback_root.mkdir()
    run = HarnessRun(tmp_path, "disk", "duration_s=30", HEAD_ONLY, results=small_disk,
                     env={"TMPDIR": str(fallback_root)})
    wait_for(run.load_started, 120, "load to start")
    _fill(small_disk)
    code = _finish(run)
    # The results disk is full: the results land in the fallback dir, and the full
    # run dir holds no half-written file.
    fallback = fallback_root / "ray-harness-results" / run.run_dir.name
    summary = _assert_infra_error(run, code, "disk_full", "", run_dir=fallback)
    assert any("No space left" in note for note in summary["notes"]), summary["notes"]
    for name in ("summary.json", "junit.xml"):
        assert not (run.run_dir / name).exists()
    assert not list(run.run_dir.glob(".*.tmp")), "a failed atomic write leaves no temp file"
