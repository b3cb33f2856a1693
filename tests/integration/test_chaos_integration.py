"""Chaos on real local clusters, under real Locust load.

Two runs, one cluster each: every non-destructive fault (Serve, workers, stress,
network, the separately installed plugin) shares one run; node kills get a short
run of their own. A `sleep` outside the run's cluster must survive both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from rich.console import Console

from chaos.component import ChaosComponent
from harness.measure.timeline import Timeline
from harness.model.context import RunContext
from harness.report.run_results import RunResults
from harness.run.components import build_components
from harness.run.runner import Runner
from harness.scenario.loader import scenario_from_dict
from harness.slo.implicit import FAULTS_SLO_NAME
from tests.integration.conftest import QUICK_REPLICA_STOP, surviving_run_processes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "tests" / "fixtures" / "extra_faults"
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 500}


def scenario(name: str, nodes: list[dict], faults: list[dict], duration_s: float, **chaos: Any) -> dict:
    return {
        "name": name, "seed": 11, "duration_s": duration_s, "cooldown_s": 4, "timeout_s": 240,
        "cluster": {"nodes": nodes, "system_config": FAST_HEALTH},
        "app": {"deployments": [{"name": "Echo", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.5},
                                 **QUICK_REPLICA_STOP}]},
        "load": {"users": 2, "wait_ms": 100, "request_timeout_s": 3},
        "chaos": {"faults": faults, **chaos},
    }


def run(tmp_path: Path, data: dict) -> tuple[Any, dict[str, dict], dict, Path]:
    sc = scenario_from_dict(data, "test")
    runner = Runner(scenario=sc, scenario_file="test", results_root=tmp_path / "results",
                    reporter=RunResults(), console=Console(quiet=True), components=build_components(sc))
    outcome = runner.run()
    run_dir = Path(outcome.run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    results = {r["id"]: r for r in summary["artifacts"]["chaos_results"]}
    return outcome, results, summary, run_dir


def replanned(tmp_path: Path, data: dict) -> list[dict]:
    """The schedule a rerun of the resolved scenario would plan (no cluster)."""
    from harness.measure.timeline import TimelineWriter
    from harness.procs.ledger import ProcessLedger

    sc = scenario_from_dict(data, "scenario.yaml")
    ctx = RunContext(scenario=sc, scenario_file="x", run_id="x", run_dir=tmp_path, timeline=TimelineWriter(tmp_path / "replan.jsonl"), ledger=ProcessLedger("x"), console=Console(quiet=True))
    return [s.as_dict() for s in ChaosComponent(sc.chaos).plan(ctx)]


@pytest.fixture
def outsider() -> Iterator[psutil.Process]:
    """A process outside the run's cluster (and outside the harness's process tree)."""
    out = subprocess.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True)
    proc = psutil.Process(int(out.stdout.strip()))
    yield proc
    proc.kill()
    proc.wait(5)


@pytest.fixture
def plugin_installed(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip-install the separate test package (its own pyproject.toml) and put it on sys.path."""
    target = tmp_path_factory.mktemp("plugin")
    # Build from a copy: the build leaves build/ and *.egg-info next to its source.
    source = shutil.copytree(PLUGIN, tmp_path_factory.mktemp("plugin-src"), dirs_exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(source)],
        check=True, capture_output=True,
    )
    monkeypatch.syspath_prepend(str(target))
    return target


def assert_gone(pid: int) -> None:
    try:
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


def test_serve_worker_stress_network_and_plugin_faults(
    tmp_path: Path, outsider: psutil.Process, plugin_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S", "1")  # proxies replaced in seconds
    nodes = [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 2, "resources": {"A40": 1}},
             {"name": "w2", "num_cpus": 1}]
    faults = [
        {"fault": "kill_replica", "targets": {"deployment": "Echo"}, "schedule": {"at_s": [1]}},
        {"fault": "network", "args": {"mode": "latency", "latency_ms": 300, "duration_s": 2}, "schedule": {"at_s": [3]}},
        {"fault": "cpu_stress", "args": {"duration_s": 2}, "targets": {"resources": {"A40": 1}}, "schedule": {"at_s": [4]}},
        {"fault": "memory_pressure", "args": {"duration_s": 2, "mb": 64}, "schedule": {"at_s": [5]}},
        {"fault": "kill_task_worker", "schedule": {"at_s": [7]}},
        {"fault": "freeze_replica", "args": {"duration_s": 1}, "schedule": {"at_s": [9]}},
        {"fault": "signal_pid", "args": {"pid": outsider.pid}, "schedule": {"at_s": [10]}},
        {"fault": "network", "args": {"mode": "reset", "duration_s": 1}, "schedule": {"at_s": [11]}},
        {"fault": "network", "args": {"mode": "blackhole", "duration_s": 1}, "schedule": {"at_s": [13]}},
        {"fault": "kill_controller", "schedule": {"at_s": [15]}},
        {"fault": "kill_proxy", "schedule": {"at_s": [17]}},
    ]
    data = scenario("chaos-serve", nodes, faults, duration_s=19)
    # Two long tasks from the start, for kill_task_worker at 7 s (the killed one is retried).
    data["workloads"] = [{"type": "tasks", "name": "held", "num_tasks": 2, "spread_s": 0.5, "task_s": 9,
                          "num_cpus": 0.5, "max_retries": 1, "timeout_s": 60}]
    outcome, results, summary, run_dir = run(tmp_path, data)
    assert outcome.error is None, outcome.error
    by_fault = {r["fault"] + ("-" + r["targets"][0].get("mode", "") if r["fault"] == "network" else ""): r
                for r in results.values()}

    replica = by_fault["kill_replica"]
    assert replica["outcome"] == "injected" and "replica replaced" in replica["noticed"]
    assert_gone(replica["targets"][0]["pid"])

    latency = by_fault["network-latency"]
    assert latency["noticed"] == "latency applied to traffic" and latency["cleaned"] == "duration over"
    timeline = Timeline.load(run_dir)
    window = timeline.window(latency["id"])
    assert window is not None and window.duration >= 2
    slow = [r for r in timeline.requests_in(window) if r.get("outcome") == "ok" and r["latency_ms"] >= 300]
    assert slow, "no request was slowed by the latency fault"

    for name in ("network-reset", "network-blackhole"):
        assert by_fault[name]["outcome"] == "injected" and by_fault[name]["noticed"].endswith("applied to traffic")

    stress = by_fault["cpu_stress"]
    assert [t["node"] for t in stress["targets"]] == ["w1"] and stress["cleaned"] == "duration over"
    assert_gone(stress["targets"][0]["pid"])
    assert by_fault["memory_pressure"]["outcome"] == "injected"

    task = by_fault["kill_task_worker"]
    assert task["outcome"] == "injected" and task["noticed"].startswith("task ")
    assert_gone(task["targets"][0]["pid"])

    assert by_fault["freeze_replica"]["outcome"] == "injected" and by_fault["freeze_replica"]["cleaned"] == "duration over"
    refused = by_fault["signal_pid"]
    assert refused["outcome"] == "refused" and "no process of this run's cluster" in refused["detail"]

    controller = by_fault["kill_controller"]
    assert controller["outcome"] == "injected" and controller["noticed"] == "controller restarted (new pid)"
    assert by_fault["kill_proxy"]["outcome"] == "injected"
    assert outsider.is_running() and outsider.status() != psutil.STATUS_ZOMBIE
    assert surviving_run_processes(run_dir) == []

    # Every planned shot is accounted for, on time, and replayable from the resolved scenario.
    assert len(results) == len(faults)
    assert max(r["lag_ms"] for r in results.values()) < 1000
    resolved = json.loads(json.dumps(summary["config"]))
    assert summary["artifacts"]["chaos_schedule"]["shots"] == replanned(tmp_path, resolved)


def test_worker_node_kills_during_load_and_a_shot_that_could_not_fire(tmp_path: Path, outsider: psutil.Process) -> None:
    """Node kills under load, capped by max_to_kill; and (one run for both: what
    test_a_shot_that_could_not_fire_fails_the_run_naming_it proved in a run of its own) a
    task kill due long after the only task is done: no target, so the run FAILS (exit 1) with
    the shot named in the verdict table and JUnit; an optional entry that misses too, and the
    capped shot, fail nothing."""
    nodes = [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 1, "resources": {"A40": 1}},
             {"name": "w2", "num_cpus": 1}]
    faults = [
        {"fault": "kill_raylet", "targets": {"resources": {"A40": 1}}, "replace_after_s": 1, "schedule": {"at_s": [2]}},
        {"fault": "terminate_node", "targets": {"nodes": ["w2"]}, "schedule": {"at_s": [5]}},
        {"fault": "drain_node", "args": {"grace_s": 1}, "schedule": {"at_s": [8, 11]}},  # 11: past max_to_kill
        {"fault": "kill_task_worker", "schedule": {"at_s": [12]}},
        {"fault": "kill_task_worker", "schedule": {"at_s": [12.5]}, "optional": True},
    ]
    data = scenario("chaos-nodes", nodes, faults, duration_s=13, keep_workers_alive=0, max_to_kill=3)
    data["workloads"] = [{"type": "tasks", "name": "quick", "num_tasks": 1, "spread_s": 0.1, "task_s": 0.1,
                          "num_cpus": 0.25, "timeout_s": 30}]
    data["slos"] = [{"name": "served", "check": "success_ratio >= 50%"}]
    outcome, results, summary, run_dir = run(tmp_path, data)
    assert outcome.error is None, outcome.error

    raylet = results["fault-1"]
    assert raylet["fault"] == "kill_raylet" and raylet["outcome"] == "injected"
    assert raylet["targets"][0]["node"] == "w1"
    assert raylet["noticed"] == "node marked dead in ray.nodes()" and 0 < raylet["noticed_after_s"] < 20
    assert_gone(raylet["targets"][0]["pid"])
    replaced = results["replace-1"]
    assert replaced["outcome"] == "injected" and replaced["node"] == "w1-r1"

    terminated = results["fault-2"]
    assert terminated["targets"][0]["node"] == "w2" and terminated["noticed"] == "node marked dead in ray.nodes()"
    for pid in terminated["targets"][0]["pids"]:
        assert_gone(pid)

    drained = results["fault-3"]
    assert drained["fault"] == "drain_node" and drained["targets"][0]["node"] == "w1-r1"
    assert drained["targets"][0]["drain_accepted"] is True
    # An idle node may leave as soon as the drain is accepted; the stop follows the grace period.
    assert drained["noticed"] == "node marked dead in ray.nodes()" and drained["noticed_after_s"] < 20
    assert drained["cleaned"] == "duration over"

    skipped = results["fault-4"]
    assert skipped["outcome"] == "skipped" and "max_to_kill=3 reached" in skipped["reason"] and skipped["capped"]
    timeline = Timeline.load(run_dir)
    kinds = [e.get("event") for e in timeline.events_of("chaos") if e.get("id") == "fault-4"]
    assert kinds == ["skipped", "result"]

    # Shots are numbered in time order: fault-5 and fault-6 are the task kills.
    done = next(e["t"] for e in timeline.events_of("workload") if e.get("event") == "result")
    assert done < results["fault-5"]["planned_t"], "the task was still running when the shot was due"
    assert results["fault-5"]["outcome"] == results["fault-6"]["outcome"] == "no_target", results
    verdicts = {v["name"]: v for v in summary["verdicts"]}
    assert verdicts["served"]["passed"]
    planned = verdicts[FAULTS_SLO_NAME]
    # Only the mandatory task kill is a miss: the capped shot and the optional one are not.
    assert not planned["passed"] and planned["measured"] == 1, planned["message"]
    assert "fault-5 kill_task_worker at 12.0 s: no target (no task is running)" in planned["message"]
    assert "fault-4" not in planned["why"] and "fault-6" not in planned["why"]  # listed apart, not counted
    assert [line.split()[0] for line in planned["inputs"]["capped"]] == ["fault-4"]
    assert [line.split()[0] for line in planned["inputs"]["optional_missed"]] == ["fault-6"]
    assert summary["status"] == "failed" and outcome.exit_code == 1
    junit = (run_dir / "junit.xml").read_text()
    assert f'name="{FAULTS_SLO_NAME}"' in junit and "fault-5 kill_task_worker at 12.0 s" in junit

    assert summary["metrics"]["chaos_node_dead_after_s_max"] < 20
    assert summary["metrics"]["ok"] > 20  # the app kept serving on the head while workers died
    assert outsider.is_running() and outsider.status() != psutil.STATUS_ZOMBIE
    assert surviving_run_processes(run_dir) == []


EXISTING_CLUSTER = """
import json, sys
from ray.cluster_utils import Cluster
temp, config = sys.argv[1], json.loads(sys.argv[2])
common = dict(node_ip_address="127.0.0.1", object_store_memory=100 * 2**20, temp_dir=temp)
cluster = Cluster(initialize_head=True, head_node_args=dict(
    num_cpus=2, node_name="head", include_dashboard=False, _system_config=config, **common))
for name in ("w1", "w2"):
    cluster.add_node(num_cpus=1, node_name=name, **common)
cluster.wait_for_nodes()
print(cluster.address, flush=True)
sys.stdin.read()  # until the test closes our stdin
cluster.shutdown()
"""


@pytest.fixture
def existing_cluster() -> Iterator[tuple[str, list[psutil.Process]]]:
    """A three-node cluster on loopback that the harness did not start (another process did)."""
    import tempfile

    from tests.integration.conftest import ray_env

    root = Path(tempfile.mkdtemp(prefix="rh-ext-", dir="/tmp"))
    proc = subprocess.Popen(
        [sys.executable, "-c", EXISTING_CLUSTER, str(root / "ray"), json.dumps(FAST_HEALTH)],
        env=ray_env(root), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )
    members: list[psutil.Process] = []
    try:
        address = proc.stdout.readline().strip()
        assert address, "the existing cluster did not start"
        members = psutil.Process(proc.pid).children(recursive=True)
        yield address, members
    finally:
        try:
            members += psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _, alive = psutil.wait_procs(members, timeout=5)
        for member in alive:  # only processes this fixture started
            member.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_destructive_faults_on_an_existing_cluster_use_ray_not_pids(
    tmp_path: Path, existing_cluster: tuple[str, list[psutil.Process]], outsider: psutil.Process
) -> None:
    address, members = existing_cluster
    data = scenario("chaos-existing", [], [
        {"fault": "kill_replica", "schedule": {"at_s": [1]}},
        {"fault": "terminate_node", "targets": {"nodes": ["w2"]}, "schedule": {"at_s": [2]}},
        {"fault": "kill_raylet", "targets": {"nodes": ["w1"]}, "schedule": {"at_s": [3]}},
    ], duration_s=8, keep_workers_alive=0, allow_destructive_on_existing=True)
    data["cluster"] = {"address": address}
    outcome, results, _, _ = run(tmp_path, data)
    assert outcome.error is None, outcome.error

    replica = results["fault-1"]
    assert replica["outcome"] == "injected" and replica["targets"][0]["method"] == "ray_kill"
    terminated = results["fault-2"]
    assert terminated["outcome"] == "refused" and "did not start the cluster" in terminated["detail"]
    raylet = results["fault-3"]
    assert raylet["outcome"] == "injected" and raylet["targets"][0]["via"] == "ShutdownRaylet(graceful=False)"
    assert raylet["noticed"] == "node marked dead in ray.nodes()"
    head_processes = [p for p in members if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert {p.name() for p in head_processes} >= {"gcs_server", "raylet"}  # the head lives on
    assert outsider.is_running()
