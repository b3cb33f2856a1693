"""Nothing outlives a harness killed with SIGKILL."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.procs.ledger import OwnedProcess
from tests.integration.robust_support import (
    HarnessRun,
    alive,
    kill_leftovers,
    owned_by_run,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_sigkill_mid_load_leaves_no_process(tmp_path: Path) -> None:
    run = HarnessRun(tmp_path, "killed")
    owned: list[OwnedProcess] = []
    try:
        wait_for(run.load_started, 120, "load to start")
        owned = owned_by_run(run)
        names = {p.name for p in owned}
        # Ray's node agents are the ones that outlive a SIGKILLed driver on their own.
        assert {"raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names
        assert any("locust" in " ".join(p.live_process().cmdline()) for p in alive(owned))
        run.kill(signal.SIGKILL)
        run.wait(10)
        wait_for(lambda: not alive(owned), 10, f"every process of the run to exit: {alive(owned)}")
        log = (run.run_dir / "reaper.log").read_text()
        assert "harness pid" in log and "killed" in log
        assert not list(run.runs_dir.glob("*.json")), "the reaper forgets the run it reaped"
    finally:
        kill_leftovers(owned)
