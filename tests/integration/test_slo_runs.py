"""Autoscaling, recovery, shedding and host-guard SLOs on a real local cluster.

One cluster (head + one worker) is shared by four short runs of the real Runner,
each connecting to it as to an existing cluster (`cluster.address`):

  recovery   fast autoscaling under a burst, a worker node killed (and replaced)
             mid-load, a tasks workload with retries beside one without, actors
  shedding   max_queued_requests: overload is answered with fast 503s
  no_shed    the same overload without shedding and with upscale_delay_s far beyond
             the window: latency and scale-up SLOs fail
  guard      host guard bounds set low: the run stops as an infrastructure error
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from harness.app import deploy as app_deploy
from harness.cluster import local as cluster_mod
from harness.model.context import RunContext
from harness.model.outcome import EXIT_INFRA, EXIT_SLO_FAILED
from harness.model.scenario import ClusterSpec, NodeSpec, Scenario
from harness.procs.ledger import ProcessLedger
from harness.report.run_results import RunResults
from harness.run.components import build_components
from harness.run.runner import Runner
from tests.integration.conftest import QUICK_REPLICA_STOP

pytestmark = pytest.mark.integration

NODE = {"num_cpus": 2, "object_store_mb": 100}
# Replicas live on the head (`replica_slot`), the recovery workloads on the worker that
# gets killed (`victim`): a kill hits running tasks for sure and leaves the scale-up alone.
HEAD = {**NODE, "resources": {"replica_slot": 10}}
VICTIM = {**NODE, "resources": {"victim": 100}}
ON_HEAD = {"num_cpus": 0.25, "resources": {"replica_slot": 1}}
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
# Fast Serve autoscaling (defaults would take minutes); only upscale_delay_s varies.
AUTOSCALING = {
    "min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 1,
    "metrics_interval_s": 0.5, "look_back_period_s": 2, "upscale_delay_s": 1, "downscale_delay_s": 3,
}
# One replica answers ~3 req/s (300 ms, one at a time); 8 users overload it.
OVERLOAD_APP = {"builtin": {"latency": {"distribution": "fixed", "ms": 300}}}
DRIVER = Path(__file__).resolve().parents[2] / "configs" / "scripts" / "tasks_driver.py"
OVERLOAD_LOAD = {"users": 8, "spawn_rate": 8, "wait_ms": 200, "request_timeout_s": 20}


class SharedCluster:
    """A local cluster the test owns; runs connect to it by address."""

    def __init__(self, tmp: Path):
        self.saved_env = dict(os.environ)
        self.root = cluster_mod.make_temp_root("slo-tests")
        cluster_mod.prepare_process_env(self.root, [])
        self.ledger = ProcessLedger("slo-tests", tmp / "owned.json")
        spec = ClusterSpec(nodes=[NodeSpec(name="head", **HEAD), NodeSpec(name="victim-0", **VICTIM)],
                           system_config=FAST_HEALTH)
        self.handle = cluster_mod.start_local_cluster(spec, self.ledger, self.root)
        self.replacements = 0
        # One HTTP proxy, on the head: runs find Serve already started.
        app_deploy.start_serve(cluster_mod.free_port(), owned_cluster=True)
        import ray

        ray.shutdown()  # each run connects as its own driver

    def victim(self) -> str:
        return next(n.name for n in self.handle.workers() if n.alive)

    def kill_victim(self) -> str:
        """Kill every process of the worker node (no graceful shutdown)."""
        name = self.victim()
        self.handle.remove_node(name)
        return name

    def add_victim(self) -> str:
        """A fresh worker node in place of the killed one."""
        self.replacements += 1
        name = f"victim-{self.replacements}"
        self.handle.add_node(NodeSpec(name=name, **VICTIM))
        self.ledger.snapshot_descendants()
        return name

    def close(self) -> None:
        try:
            cluster_mod.stop_cluster(self.handle, self.ledger)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            os.environ.clear()
            os.environ.update(self.saved_env)


class NodeKiller:
    """A minimal fault: kills the worker node `after_s` into the load and replaces it.

    The phase `fault-1` spans the kill until the replacement node is up, as the chaos
    plugins mark their faults. Ray starts nodes only from the main thread, so this
    works in tick(): the kill on one tick, the replacement on the next.
    """

    name = "test_node_killer"

    def __init__(self, shared: SharedCluster, after_s: float, ready: Callable[[], bool] = lambda: True,
                 ready_within_s: float = 20.0):
        self.shared, self.after_s = shared, after_s
        self.ready, self.ready_within_s = ready, ready_within_s
        self.killed: str | None = None
        self.replacement: str | None = None

    def start(self, ctx: RunContext) -> None:
        pass

    def tick(self, ctx: RunContext) -> None:
        started = ctx.load_started_at
        if started is None or self.replacement:
            return
        if self.killed is None:
            waited = time.time() - started
            if waited < self.after_s or (not self.ready() and waited < self.after_s + self.ready_within_s):
                return
            ctx.timeline.phase("fault-1", "start", fault="node_kill")
            self.killed = self.shared.kill_victim()
            return
        self.replacement = self.shared.add_victim()
        ctx.timeline.phase("fault-1", "end", fault="node_kill")  # declared fields only (measure.records)

    def stop(self, ctx: RunContext) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    cluster = SharedCluster(tmp_path_factory.mktemp("shared"))
    try:
        yield cluster
    finally:
        cluster.close()


def scenario(shared: SharedCluster, name: str, **extra: Any) -> Scenario:
    data = {
        # 6 s of 8 users against ~3 req/s of capacity: overload (queues, sheds) from the first
        # seconds; no cooldown: every check here is judged on the load window.
        "name": name, "seed": 11, "duration_s": 6, "cooldown_s": 0, "timeout_s": 150,
        "cluster": {"address": shared.handle.address},
        "recorder": {"interval_s": 0.25},
        **extra,
    }
    for deployment in data.get("app", {}).get("deployments", []):
        deployment.update(QUICK_REPLICA_STOP)
    return Scenario.model_validate(data)


def run(scen: Scenario, results: Path, extra_components: list[Any] = (), components: list[Any] | None = None):
    components = [*(components if components is not None else build_components(scen)), *extra_components]
    runner = Runner(scenario=scen, scenario_file=f"<test {scen.name}>", results_root=results,
                    reporter=RunResults(), components=components)
    return runner.run()


def verdicts(outcome) -> dict[str, Any]:
    return {v.name: v for v in outcome.verdicts}


def test_recovery_autoscaling_and_tasks_through_a_node_kill(shared, tmp_path):
    scen = scenario(
        shared, "recovery", duration_s=16, cooldown_s=8,
        app={**OVERLOAD_APP, "deployments": [{
            "name": "Echo", "max_ongoing_requests": 1, "ray_actor_options": ON_HEAD,
            "autoscaling_config": AUTOSCALING}]},
        load=OVERLOAD_LOAD,
        workloads=[
            {"type": "tasks", "name": "retrying", "num_tasks": 30, "spread_s": 12, "task_s": 1.0,
             "num_cpus": 0.25, "resources": {"victim": 1}, "children": 1, "max_retries": -1, "timeout_s": 60},
            {"type": "tasks", "name": "fragile", "num_tasks": 30, "spread_s": 12, "task_s": 4.0,
             "num_cpus": 0.1, "resources": {"victim": 1}, "max_retries": 0, "timeout_s": 60},
            {"type": "actors", "name": "relay", "num_actors": 2, "messages": 30, "spread_s": 12,
             "resources": {"victim": 1}, "timeout_s": 60},
        ],
        slos=[
            # Generous: on a shared 2-core machine one replica start alone has taken 15 s.
            {"name": "scale-up", "check": "time_to_replicas(Echo, 2) < 40s", "window": "load + 30s"},
            {"name": "cap", "check": "max_replicas(Echo) <= 3"},
            {"name": "retried tasks", "check": "tasks_failed(retrying) == 0"},
            {"name": "unretried tasks", "check": "tasks_failed(fragile) == 0"},
            {"name": "relay", "check": "messages_lost(relay) == 0"},
            {"name": "cpus back", "check": "resource_recovery_time(CPU, total) < 30s", "window": "fault-1 + 20s"},
        ],
    )
    components = build_components(scen)
    fragile_work = next(c for c in components if c.name == "workload:fragile")

    def warm() -> bool:  # tasks already ran on the victim: its workers are up, tasks are executing
        victim_id = shared.handle.nodes[shared.victim()].node_id[:12]
        return fragile_work.nodes.get(victim_id, 0) >= 2

    killer = NodeKiller(shared, after_s=6, ready=warm)
    outcome = run(scen, tmp_path, [killer], components)
    found = verdicts(outcome)
    assert outcome.error is None, outcome.error
    assert killer.killed is not None and killer.replacement is not None
    assert found["scale-up"].passed, found["scale-up"].message
    assert found["cap"].passed, found["cap"].message
    assert found["retried tasks"].passed, found["retried tasks"].message
    assert found["relay"].passed, found["relay"].message
    assert found["cpus back"].passed, found["cpus back"].message
    # Without retries the tasks running on the killed node are lost, and the verdict says so.
    fragile = found["unretried tasks"]
    assert not fragile.passed and fragile.measured >= 1
    assert "tasks lost" in fragile.message
    assert outcome.exit_code == EXIT_SLO_FAILED
    # Every verdict keeps its inputs: the replica points behind the scale-up time.
    points = found["scale-up"].inputs["running"]
    assert 0 <= points[0][0] < 1 and any(v >= 2 for _, v in points)


def test_shedding_answers_overload_with_fast_503s(shared, tmp_path):
    scen = scenario(
        shared, "shedding",
        app={**OVERLOAD_APP, "deployments": [{
            "name": "Echo", "num_replicas": 1, "max_ongoing_requests": 1, "max_queued_requests": 1,
            "ray_actor_options": ON_HEAD}]},
        load=OVERLOAD_LOAD,
        # A driver script beside the traffic, connected to the run's cluster by RAY_ADDRESS.
        workloads=[{"type": "script", "name": "driver", "path": str(DRIVER), "args": ["--tasks", "12"],
                    "timeout_s": 90}],
        slos=[
            {"name": "sheds", "check": "shed_ratio >= 10%"},
            {"name": "fast 503s", "check": "p(50, shed) < 250ms"},
            {"name": "driver passes", "check": "exit_code(driver) == 0"},
            {"name": "driver ran its tasks", "check": "workload(driver, tasks) == 12"},
        ],
    )
    outcome = run(scen, tmp_path)
    found = verdicts(outcome)
    assert outcome.error is None, outcome.error
    for name in ("sheds", "fast 503s", "driver passes", "driver ran its tasks"):
        assert found[name].passed, found[name].message
    assert outcome.metrics["workload.driver.wrong"] == 0


def test_without_shedding_or_fast_upscale_the_slos_fail(shared, tmp_path):
    scen = scenario(
        shared, "no_shed",
        app={**OVERLOAD_APP, "deployments": [{
            "name": "Echo", "max_ongoing_requests": 1, "ray_actor_options": ON_HEAD,
            "autoscaling_config": {**AUTOSCALING, "upscale_delay_s": 120}}]},
        load=OVERLOAD_LOAD,
        slos=[
            {"name": "latency", "check": "p(90) < 1000ms"},
            {"name": "scale-up", "check": "time_to_replicas(Echo, 2) < 40s", "window": "load + 30s"},
            {"name": "no shedding", "check": "shed_ratio == 0"},
        ],
    )
    outcome = run(scen, tmp_path)
    found = verdicts(outcome)
    assert outcome.error is None, outcome.error
    assert found["no shedding"].passed, found["no shedding"].message
    assert not found["latency"].passed and found["latency"].measured > 1000
    scale_up = found["scale-up"]
    assert not scale_up.passed and "never reached 2 running replicas" in scale_up.message
    assert outcome.exit_code == EXIT_SLO_FAILED
    # JUnit: one testcase per SLO; a failure names measured vs bound, window and reproduce command.
    suite = next(iter(JUnitXml.fromfile(str(Path(outcome.run_dir) / "junit.xml"))))
    cases = {case.name: case for case in suite}
    assert set(cases) == {"latency", "scale-up", "no shedding"}
    failure = cases["scale-up"].result[0]
    assert "measured never, expected below 40.00s in window 'load + 30s'" in failure.message
    assert "harness reproduce" in failure.message
    assert "seed: 11" in cases["scale-up"].system_out


def test_host_guard_stops_a_runaway_run(shared, tmp_path):
    scen = scenario(
        shared, "guard", duration_s=60, timeout_s=150,
        app={"deployments": [{"name": "Echo", "num_replicas": 1, "ray_actor_options": ON_HEAD}]},
        load={"users": 4, "spawn_rate": 4, "wait_ms": 50},
        host_guard={"cpu_percent": 1, "memory_percent": None, "for_s": 2, "interval_s": 0.2},
        slos=[{"name": "ok", "check": "success_ratio >= 99%"}],
    )
    started = time.monotonic()
    outcome = run(scen, tmp_path)
    assert outcome.error_kind == "host_guard", outcome.error
    assert "host CPU stayed at or above 1%" in outcome.error
    assert outcome.exit_code == EXIT_INFRA
    assert time.monotonic() - started < 55  # stopped long before the 60 s of load
    suite = next(iter(JUnitXml.fromfile(str(Path(outcome.run_dir) / "junit.xml"))))
    assert any(case.name == "infrastructure" for case in suite)
