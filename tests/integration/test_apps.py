"""The user's real Serve config file and real traffic, on one real local cluster shared by three runs:

1. the two-app example config (one app from a local working_dir, taking JSON bodies) with a
   `--set app.config...` override, a seeded JSON request mix and per-request SLOs;
2. a user's own Locust class in the open model, one of whose tasks raises;
3. a config whose deployment never becomes healthy: exit 3 with Serve's own message.

The cluster is a ClusterPool's (what a suite uses): a run on it deploys and deletes its apps
and stops its load, the cluster survives it, and only the pool stops it (this file took
over what tests/integration/test_gate_shared_cluster.py proved with a run of its own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cluster.pool import ClusterPool
from harness.measure.timeline import Timeline
from harness.model.scenario import SLOSpec
from harness.report.run_results import RunResults
from harness.run.runner import Runner
from harness.scenario.loader import load_scenario
from harness.slo.core import evaluate
from locustfiles.schedule import request_sequence
from tests.integration.conftest import surviving_run_processes, wait_for

ROOT = Path(__file__).resolve().parents[2]
# The head alone holds every replica (at most 5 of 0.25 CPU): no test here needs a second node.
CLUSTER = """
cluster:
  nodes:
    - {name: head, num_cpus: 2, object_store_mb: 100}
"""
MIX = f"""
name: apps-mix-test
seed: 11
duration_s: 4
timeout_s: 150
{CLUSTER}
app: {{config: {ROOT}/configs/apps/serve_config.yaml}}
load:
  model: open
  rate: 30
  requests:
    - name: predict
      weight: 3
      method: POST
      app: predict
      body_template:
        prompt: {{line_of: {ROOT}/configs/apps/prompts.txt}}
        max_tokens: {{int: [4, 32]}}
        temperature: {{float: [0, 1]}}
      expect_status: 200
    - {{name: echo, weight: 2, app: api, path: /}}
    - {{name: wrong, weight: 1, method: POST, app: predict, body: {{prompt: x}}, expect_status: 200}}
slos:
  - {{check: "success_ratio >= 99%", request: predict}}
  - {{check: "p(99) < 1000ms", request: echo}}
  - {{check: "success_ratio <= 0%", request: wrong}}
  - {{check: "max_replicas(api/Echo) <= 3"}}
  - {{check: "min_replicas(Predictor) >= 1"}}
"""
USER_CLASS = f"""
name: apps-user-class-test
seed: 5
duration_s: 4  # 80 scheduled sends at 20/s: `requests >= 60` with room
timeout_s: 150
{CLUSTER}
app: {{config: {ROOT}/configs/apps/serve_config.yaml}}
load: {{model: open, rate: 20, user_class: "tests.fixtures.apps.users:FlakyUser"}}
slos:
  - {{check: "success_ratio >= 99%", request: predict}}
  - {{check: "requests >= 60"}}
"""
BROKEN = f"""
name: apps-broken-test
duration_s: 5
timeout_s: 150
{CLUSTER}
app: {{config: tests/fixtures/apps/broken_config.yaml, ready_timeout_s: 60}}
slos: [{{check: "requests >= 1"}}]
"""


def _after_a_run_on_the_pool(pool: ClusterPool, runner: Runner, outcome: Any) -> dict[str, Any]:
    """What a finished run left on the pool's cluster (read at once: the next run changes it)."""
    # Only now: ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (loopback only) on import,
    # and the pool sets it before starting the cluster.
    import ray
    from ray import serve

    pool.ledger.snapshot_descendants()
    cluster_pids = {o.pid for o in pool.ledger.owned()}
    alive = surviving_run_processes(Path(outcome.run_dir))
    return {
        "lease_shared": runner.lease.shared and runner.lease.handle is pool.handle,
        "load_exited": runner._load is not None and runner._load.process.poll() is not None,
        "alive_not_cluster": {int(p.rsplit("(", 1)[1].rstrip(")")) for p in alive} - cluster_pids,
        "ray_initialized": ray.is_initialized(),
        # The run asks Serve to delete its apps and goes on (the next deploy awaits the
        # deletion): an app still listed must be DELETING, never left running.
        "apps_left": {name for name, app in serve.status().applications.items()
                      if name in {"api", "predict"}
                      and str(getattr(app.status, "value", app.status)) != "DELETING"},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three runs on one cluster (the ClusterPool a suite uses): started once, stopped once."""
    tmp = tmp_path_factory.mktemp("apps")
    out: dict[str, Any] = {}
    pool = ClusterPool(tmp / "pool")
    node_pids: list[int] = []
    try:
        for name, text, overrides in (
            ("mix", MIX, ["app.config.applications.0.deployments.0.num_replicas=3"]),
            ("user_class", USER_CLASS, []),
            ("broken", BROKEN, []),
        ):
            path = tmp / f"{name}.yaml"
            path.write_text(text)
            scenario = load_scenario(path, overrides)
            runner = Runner(scenario=scenario, scenario_file=str(path), results_root=tmp / "results",
                            reporter=RunResults(), overrides=overrides, pool=pool)
            if not node_pids and pool.handle is not None:
                node_pids = [pid for pids in pool.handle.head.process_pids().values() for pid in pids]
            handle = pool.handle
            out[name] = (scenario, runner.run())
            if name != "broken":  # a run that failed hands the cluster back: the pool stops it
                out[f"{name}_left"] = _after_a_run_on_the_pool(pool, runner, out[name][1])
                out[f"{name}_left"]["nodes_alive"] = bool(node_pids) and all(map(psutil.pid_exists, node_pids))
                out[f"{name}_left"]["same_cluster_next"] = pool.acquire(scenario) is handle
        out["clusters_started"] = pool.started
    finally:
        out["killed_at_close"] = pool.close()
    out["node_pids"] = node_pids
    out["pool_handle_after_close"] = pool.handle
    return out


def test_runs_on_the_pool_leave_its_cluster_running_and_only_the_pool_stops_it(runs: dict) -> None:
    for name in ("mix", "user_class"):
        left = runs[f"{name}_left"]
        assert left["lease_shared"] and left["same_cluster_next"], (name, left)
        # The run's load process is gone; whatever else it recorded and is still alive
        # belongs to the shared cluster, never to the run.
        assert left["load_exited"] and left["alive_not_cluster"] == set(), (name, left)
        assert left["nodes_alive"] and left["ray_initialized"], (name, left)
        assert left["apps_left"] == set(), (name, left)  # the run deleted its apps
    assert runs["clusters_started"] == 1
    node_pids = runs["node_pids"]
    assert node_pids
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                             for p in node_pids), 20, "the shared cluster's processes to exit")
    assert runs["pool_handle_after_close"] is None and isinstance(runs["killed_at_close"], list)


def test_a_two_app_config_file_takes_a_seeded_json_mix_judged_per_request(runs: dict) -> None:
    scenario, outcome = runs["mix"]
    assert outcome.status == "passed", (outcome.error, [v.message for v in outcome.verdicts])
    names = [v.name for v in outcome.verdicts]
    assert "success_ratio >= 99% for predict" in names
    timeline = Timeline.load(Path(outcome.run_dir))
    finals = sorted((r for r in timeline.requests if r.get("final")), key=lambda r: r["id"])
    # Same seed, same sequence: the names sent are the schedule's draws, send by send.
    weights = [r.weight for r in scenario.load.requests]
    expected = [scenario.load.requests[i].name for i in request_sequence(weights, scenario.seed, len(finals))]
    assert [r["name"] for r in finals] == expected
    assert {"predict", "echo", "wrong"} <= {r["name"] for r in finals}
    # The per-name judgement separates what a whole-run ratio mixes: `wrong` always fails.
    wrong = [r for r in finals if r["name"] == "wrong"]
    assert wrong and all(r["outcome"] == "error" and r["status"] == 400 for r in wrong)
    whole = evaluate(SLOSpec(check="success_ratio >= 99%"), timeline)
    assert not whole.passed
    # The --set override of the config file reached Serve; both apps were sampled.
    samples = timeline.events_of("sample")
    assert max(s["deployments"]["api/Echo"]["running"] for s in samples) == 3
    assert all(set(s.get("apps", {})) == {"api", "predict"} for s in samples)
    deployed = json.loads((Path(outcome.run_dir) / "summary.json").read_text())["artifacts"]["serve_config"]
    assert deployed["applications"][1]["runtime_env"]["working_dir"].startswith("local:///")


def test_a_user_class_runs_its_tasks_on_the_open_schedule_and_its_errors_are_counted(runs: dict) -> None:
    _scenario, outcome = runs["user_class"]
    assert outcome.error is None, outcome.error
    assert outcome.status == "passed", [v.message for v in outcome.verdicts]
    timeline = Timeline.load(Path(outcome.run_dir))
    finals = [r for r in timeline.requests if r.get("final")]
    by_name = {n: [r for r in finals if r["name"] == n] for n in ("predict", "echo", "task:broken_task")}
    assert by_name["predict"] and by_name["echo"]
    # Each raise of the user's task is an error record; the load process lived on to the end.
    assert len(by_name["task:broken_task"]) == len(by_name["echo"])
    assert all(r["outcome"] == "error" and "the user's own bug" in r["error"] for r in by_name["task:broken_task"])
    # Scheduled sends: latency counts from the intended send time.
    assert all("lag_ms" in r and r["latency_ms"] >= r["attempt_ms"] for r in by_name["predict"])


def test_a_deployment_that_never_becomes_healthy_is_exit_3_with_serves_message(runs: dict) -> None:
    _scenario, outcome = runs["broken"]
    assert outcome.exit_code == 3 and outcome.error_kind == "app_not_ready", outcome.error
    assert "broken/Broken" in outcome.error and "model weights missing at /models/v7" in outcome.error
