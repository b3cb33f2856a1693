"""A driver session after another in one process: the new cluster's actors run.

Connecting to a token-auth cluster switches the process's cached Ray config to token
mode (Ray sets RAY_AUTH_MODE=token and re-reads its config). If a later run's own
cluster (auth disabled) met that stale config, the GCS would drop every actor the
driver creates as out of scope before it ran: what broke the actors workload in a
suite after a run on an existing cluster.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from harness.cluster.lease import LeaseSite
from harness.cluster.local import LocalLease
from harness.model.scenario import ClusterSpec, NodeSpec
from harness.procs.ledger import ProcessLedger

pytestmark = pytest.mark.integration


@pytest.mark.no_timing  # an actor answers, no time
def test_a_run_after_a_token_auth_session_still_runs_its_actors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray._raylet import Config

    # What an earlier connection to a token-auth cluster leaves in this process.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    Config.initialize("")
    # The process's environment moves on (a new run, a restored environment).
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.delenv("RAY_AUTH_TOKEN")

    @ray.remote(num_cpus=0)
    class Pinger:
        def ping(self) -> str:
            return "pong"

    site = LeaseSite(name="sessions", ledger=ProcessLedger("sessions", tmp_path / "owned.json"), logs_dir=tmp_path / "ray_logs")
    lease = LocalLease(ClusterSpec(nodes=[NodeSpec(name="head", num_cpus=1, object_store_mb=80)]), [])
    try:
        lease.acquire(site)
        root = lease.temp_root
        assert root is not None and root.is_dir()
        assert os.environ["RAY_AUTH_MODE"] == "disabled"
        assert ray.get(Pinger.remote().ping.remote(), timeout=60) == "pong"
    finally:
        released = lease.release(site)
    assert lease.handle is None and not root.exists() and released.notes == []
    assert any((tmp_path / "ray_logs").iterdir())  # the session's logs were kept
