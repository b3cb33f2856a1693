"""Runner(pool=...) on the pool's shared cluster: the run deploys and deletes its app
and stops its load, the cluster survives it, and only the pool stops the cluster."""

from __future__ import annotations

from pathlib import Path

import psutil

from harness.cluster.pool import ClusterPool
from harness.run.runner import Runner
from harness.scenario.loader import load_scenario
from tests.integration.conftest import surviving_run_processes, wait_for

SCENARIO = """
name: shared
seed: 2
duration_s: 3
timeout_s: 120
cluster:
  nodes: [{name: head, num_cpus: 2, object_store_mb: 100}]
app:
  deployments: [{name: Echo, num_replicas: 1, ray_actor_options: {num_cpus: 0.5}}]
load: {users: 1, spawn_rate: 1, wait_ms: 50}
slos: [{check: "success_ratio >= 99%"}]
"""


def test_a_run_on_a_shared_cluster_leaves_it_running_for_the_next(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    pool = ClusterPool(tmp_path / "pool")
    try:
        handle = pool.acquire(scenario)
        # Only now: ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (loopback only) on import,
        # and the pool sets it before starting the cluster.
        import ray
        from ray import serve

        node_pids = [pid for pids in handle.head.process_pids().values() for pid in pids]
        assert node_pids
        runner = Runner(scenario, str(path), tmp_path / "results", pool=pool)
        assert runner.lease.shared and runner.lease.handle is handle
        outcome = runner.run()
        assert outcome.status == "passed", (outcome.error, [v.message for v in outcome.verdicts])
        # The run's load process is gone; whatever else it recorded and is still alive
        # belongs to the shared cluster, never to the run.
        assert runner._load is not None and runner._load.process.poll() is not None
        pool.ledger.snapshot_descendants()
        cluster_pids = {o.pid for o in pool.ledger.owned()}
        alive = surviving_run_processes(Path(outcome.run_dir))
        assert {int(p.rsplit("(", 1)[1].rstrip(")")) for p in alive} <= cluster_pids
        assert all(psutil.pid_exists(pid) for pid in node_pids)
        assert ray.is_initialized()
        assert "app" not in serve.status().applications  # the run deleted its app
        assert pool.acquire(scenario) is handle and pool.started == 1
    finally:
        killed = pool.close()
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                             for p in node_pids), 20, "the shared cluster's processes to exit")
    assert pool.handle is None and isinstance(killed, list)
