"""Ray core chaos without Serve, on real local clusters: two short workload-only runs.

Run 1: a script written like Ray's release chaos scripts (configs/scripts/chaos_release_style.py)
starts the harness's ResourceKiller, a tasks workload with nested tasks runs beside it, a
worker node is terminated at an offset counted from the script's run() call and replaced,
and the script's stop_run() halts the rest of the schedule. Several assertions share it.
Run 2: the same script never calls run(): every fault is not_reached and the verdict says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.measure.timeline import Timeline
from harness.report.run_results import RunResults
from harness.run.runner import Runner
from harness.scenario.loader import scenario_from_dict
from harness.slo.implicit import FAULTS_SLO_NAME, KILLER_SLO_NAME
from tests.integration.conftest import surviving_run_processes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "configs" / "scripts" / "chaos_release_style.py")
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 500}


def core_scenario(name: str, script_args: list[str], faults: list[dict], slos: list[dict], workers: int = 2,
                  **extra: Any) -> dict:
    return {
        "name": name, "seed": 3, "duration_s": 60, "cooldown_s": 3, "timeout_s": 200, "app": "none",
        "cluster": {"nodes": [
            {"name": "head", "num_cpus": 2, "object_store_mb": 100},
            *({"name": f"worker-{i}", "num_cpus": 1, "object_store_mb": 100} for i in range(1, workers + 1)),
        ], "system_config": FAST_HEALTH},
        "workloads": [{"type": "script", "name": "release", "path": SCRIPT, "args": script_args, "timeout_s": 120},
                      *extra.pop("workloads", [])],
        # One worker kept alive, one to kill; with a single worker, none kept (its fault never fires anyway).
        "chaos": {"resource_killer": True, "keep_workers_alive": workers - 1, "faults": faults},
        "slos": slos, **extra,
    }


def run(tmp_path: Path, data: dict) -> tuple[Any, dict, Path]:
    scenario = scenario_from_dict(data, "test")
    runner = Runner(scenario=scenario, scenario_file="test", results_root=tmp_path / "results",
                    reporter=RunResults(), console=Console(quiet=True))
    outcome = runner.run()
    run_dir = Path(outcome.run_dir)
    return outcome, json.loads((run_dir / "summary.json").read_text()), run_dir


@pytest.fixture(scope="module")
def killer_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict, Path]:
    data = core_scenario(
        "core_killer", ["--tasks-per-cpu", "4", "--task-s", "0.5"],
        faults=[
            {"fault": "terminate_node", "schedule": {"at_s": [2]}, "replace_after_s": 2},
            {"fault": "kill_raylet", "schedule": {"at_s": [55]}},  # long after the script's stop_run()
        ],
        slos=[
            {"name": "script passed", "check": "exit_code(release) == 0"},
            {"name": "no task lost", "check": "tasks_failed(nested) == 0"},
            {"name": "resources reclaimed", "check": "resources_reclaimed_time(release) < 10s"},
            {"name": "dead node noticed", "check": "dead_node_noticed_time < 10s"},
            {"name": "the script counted the kill", "check": "workload(release, total_killed) == 1"},
        ],
        workloads=[{"type": "tasks", "name": "nested", "num_tasks": 24, "spread_s": 6, "task_s": 0.5,
                    "num_cpus": 0.25, "children": 1, "max_retries": -1, "timeout_s": 90}],
    )
    return run(tmp_path_factory.mktemp("core"), data)


def test_workload_only_run_with_the_killer_handshake_passes(killer_run: tuple[Any, dict, Path]) -> None:
    outcome, summary, run_dir = killer_run
    assert summary["status"] == "passed", [v["message"] for v in summary["verdicts"]] + [summary.get("error")]
    assert outcome.exit_code == 0
    names = [v["name"] for v in summary["verdicts"]]
    assert KILLER_SLO_NAME in names and FAULTS_SLO_NAME in names and len(names) == 7
    assert summary["config"]["app"] is None and summary["config"]["load"] is None
    assert surviving_run_processes(run_dir) == []


def test_faults_count_from_the_scripts_run_call_and_stop_at_stop_run(killer_run: tuple[Any, dict, Path]) -> None:
    _outcome, summary, run_dir = killer_run
    killer = summary["artifacts"]["resource_killer"]
    assert killer["run_t"] is not None and killer["stop_t"] > killer["run_t"]
    results = {r["id"]: r for r in summary["artifacts"]["chaos_results"]}
    kill = results["fault-1"]
    assert kill["fault"] == "terminate_node" and kill["outcome"] == "injected"
    assert kill["planned_t"] == pytest.approx(killer["run_t"] + 2.0, abs=1e-3)
    assert kill["targets"][0]["node"] in ("worker-1", "worker-2") and kill["targets"][0]["pids"]
    assert 0 < kill["noticed_after_s"] < 10
    assert results["replace-1"]["outcome"] == "injected"
    late = results["fault-2"]
    assert late["outcome"] == "not_reached" and "stop_run()" in late["reason"] and late["capped"] is True
    planned = next(v for v in summary["verdicts"] if v["name"] == FAULTS_SLO_NAME)
    assert planned["passed"] and planned["measured"] == 0  # stop_run() ended the schedule: a limit, not a miss
    timeline = Timeline.load(run_dir)
    events = [e["event"] for e in timeline.events_of("chaos")]
    assert events.index("killer_ready") < events.index("killer_run") < events.index("injected") < events.index("killer_stop")
    assert timeline.window("fault-1") is not None


def test_the_scripts_output_and_the_cluster_state_are_judged(killer_run: tuple[Any, dict, Path]) -> None:
    _outcome, summary, run_dir = killer_run
    metrics = summary["metrics"]
    assert metrics["workload.release.total_killed"] == 1  # get_total_killed(), settled after stop_run()
    assert metrics["workload.release.chaos_tasks_runtime_s"] > 0  # perf_metrics by name
    assert metrics["workload.nested.ok"] == 24 and metrics["workload.nested.lost"] == 0
    verdicts = {v["name"]: v for v in summary["verdicts"]}
    assert 0 <= verdicts["resources reclaimed"]["measured"] < 10
    timeline = Timeline.load(run_dir)
    assert timeline.requests == [] and timeline.window("load") is None
    drive = timeline.window("workloads")
    assert drive is not None and drive.end >= timeline.window("release").end - 0.5
    last = timeline.events_of("sample")[-1]  # the killer holds no CPU: all of it is free at the end
    assert last["available_resources"]["CPU"] == last["total_resources"]["CPU"]
    page = (run_dir / "report.html").read_text()
    assert 'id="chart-cpu"' in page and 'id="chart-rps"' not in page


@pytest.mark.no_timing  # no fault fires: the reason, no time
def test_a_script_that_never_starts_the_killer_fails_with_the_reason(tmp_path: Path) -> None:
    data = core_scenario(
        "core_no_killer", ["--tasks-per-cpu", "1", "--task-s", "0.1", "--never-start-killer"],
        faults=[{"fault": "terminate_node", "schedule": {"at_s": [1]}}],
        slos=[{"name": "script passed", "check": "exit_code(release) == 0"}],
        cooldown_s=0, workers=1,  # the killer never starts: one worker is a valid target enough
    )
    outcome, summary, run_dir = run(tmp_path, data)
    assert summary["status"] == "failed" and outcome.exit_code == 1
    (result,) = summary["artifacts"]["chaos_results"]
    assert result["outcome"] == "not_reached" and "never started the ResourceKiller" in result["reason"]
    verdict = next(v for v in summary["verdicts"] if v["name"] == KILLER_SLO_NAME)
    assert not verdict["passed"] and "the script never started the ResourceKiller" in verdict["message"]
    missed = next(v for v in summary["verdicts"] if v["name"] == FAULTS_SLO_NAME)
    assert not missed["passed"] and "fault-1 terminate_node at 1.0 s: not injected" in missed["message"]
    assert summary["metrics"]["workload.release.total_killed"] == 0
    assert surviving_run_processes(run_dir) == []
