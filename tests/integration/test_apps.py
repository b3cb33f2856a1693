"""The user's real Serve config file and real traffic, on one real local cluster shared by three runs:

1. the two-app example config (one app from a local working_dir, taking JSON bodies) with a
   `--set app.config...` override, a seeded JSON request mix and per-request SLOs;
2. a user's own Locust class in the open model, one of whose tasks raises;
3. a config whose deployment never becomes healthy: exit 3 with Serve's own message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cluster.pool import ClusterPool
from harness.measure.timeline import Timeline
from harness.run.runner import Runner
from harness.scenario.config import SLOSpec
from harness.scenario.loader import load_scenario
from harness.slo.core import evaluate
from locustfiles.schedule import request_sequence

ROOT = Path(__file__).resolve().parents[2]

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = """
cluster:
  nodes:
    - {name: head, num_cpus: 2, object_store_mb: 100}
    - {name: worker, num_cpus: 2, object_store_mb: 100}
"""
MIX = f"""
name: apps-mix-test
seed: 11
duration_s: 6
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
duration_s: 6
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


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three runs on one cluster (the ClusterPool a suite uses): started once, stopped once."""
    tmp = tmp_path_factory.mktemp("apps")
    out = {}
    pool = ClusterPool(tmp / "pool")
    try:
        for name, text, overrides in (
            ("mix", MIX, ["app.config.applications.0.deployments.0.num_replicas=3"]),
            ("user_class", USER_CLASS, []),
            ("broken", BROKEN, []),
        ):
            path = tmp / f"{name}.yaml"
            path.write_text(text)
            scenario = load_scenario(path, overrides)
            runner = Runner(scenario, str(path), tmp / "results", overrides=overrides, pool=pool)
            out[name] = (scenario, runner.run())
    finally:
        pool.close()
    return out


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
