"""Workload-only scenarios (`app: none`) and the ResourceKiller option: the config rules,
the SLOs of core chaos on synthetic timelines, and the schedule's origin at run()."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from chaos.component import ChaosComponent
from harness.cli import main
from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.model.errors import ConfigError
from harness.model.scenario import Scenario, SLOSpec, TasksWorkloadSpec
from harness.procs.ledger import ProcessLedger
from harness.report.html import build_report
from harness.run.live import LiveState, render_line, render_panel
from harness.scenario.loader import load_scenario, scenario_from_dict
from harness.slo.core import evaluate
from harness.slo.implicit import FAULTS_SLO_NAME, KILLER_SLO_NAME, implicit_slos
from harness.workloads.tasks import TasksWorkload
from tests.unit.slo_timelines import T0, phase, sample, timeline, workload_result

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "configs" / "scenarios" / "many_tasks_terminate_node.yaml"
NODES = [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 1}, {"name": "w2", "num_cpus": 1}]
TASKS = {"type": "tasks", "name": "t", "num_tasks": 10, "timeout_s": 60}
NODE_FAULT = {"fault": "terminate_node", "schedule": {"at_s": [1]}}


def core(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "core", "duration_s": 10, "timeout_s": 120, "app": "none",
        "cluster": {"nodes": NODES}, "workloads": [TASKS],
        "slos": [{"check": "tasks_failed(t) == 0"}],
    }
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        scenario_from_dict(data, "s.yaml")
    return caught.value.lines


# -- config ------------------------------------------------------------------


def test_app_none_means_no_app_and_no_load() -> None:
    scenario = scenario_from_dict(core(), "s.yaml")
    assert scenario.app is None and scenario.load is None and scenario.workload_only
    assert scenario.python_path == [] and scenario.deployment("Echo") is None
    # the resolved scenario (as written to scenario.yaml) reads back the same
    again = Scenario.model_validate(yaml.safe_load(yaml.safe_dump(scenario.model_dump(mode="json"))))
    assert again.app is None and again.load is None


def test_a_scenario_with_an_app_still_gets_the_default_load() -> None:
    scenario = scenario_from_dict({"name": "s", "duration_s": 5, "cluster": {"nodes": NODES}}, "s.yaml")
    assert scenario.app is not None and scenario.load is not None and not scenario.workload_only
    assert scenario.load.users == scenario_from_dict(
        {"name": "s", "duration_s": 5, "cluster": {"nodes": NODES}, "load": {}}, "s.yaml").load.users


def test_shipped_scenario_is_workload_only_with_a_node_fault_and_core_slos() -> None:
    scenario = load_scenario(SHIPPED)
    assert scenario.workload_only and len(scenario.cluster.nodes) == 3
    (work,) = scenario.workloads
    assert isinstance(work, TasksWorkloadSpec) and work.children >= 1 and work.max_retries == -1
    (fault,) = scenario.chaos.faults
    assert fault.fault == "terminate_node" and fault.replace_after_s is not None
    checks = " ".join(s.check for s in scenario.slos)
    for metric in ("tasks_failed", "resources_reclaimed_time", "dead_node_noticed_time"):
        assert metric in checks
    assert load_scenario(SHIPPED, ["workloads.0.max_retries=0"]).workloads[0].max_retries == 0


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"load": {"users": 2}}, "load", "no load section with app: none"),
    ({"slos": [{"check": "p(99) < 100ms"}]}, "slos.0.check", "got 'p'"),
    ({"slos": [{"check": "success_ratio >= 99%"}]}, "slos.0.check", "requests or Serve replicas"),
    ({"slos": [{"check": "replica_recovery_time(Echo) < 5s", "window": "run"}]}, "slos.0.check", "replica_recovery_time"),
    ({"slos": [{"check": "resource_recovery_time(CPU) < 5s"}]}, "slos.0.window", "other than 'load'"),
    ({"slos": [{"check": "tasks_failed(t) == 0", "window": "after load"}]}, "slos.0.window", "other than 'after load'"),
    ({"chaos": {"faults": [{"fault": "kill_replica", "schedule": {"at_s": [1]}}]}}, "chaos.faults.0.fault", "'kill_replica'"),
    ({"chaos": {"faults": [{"fault": "kill_proxy", "schedule": {"at_s": [1]}}]}}, "chaos.faults.0.fault", "'kill_proxy'"),
    ({"chaos": {"faults": [{"fault": "kill_controller", "schedule": {"at_s": [1]}}]}}, "chaos.faults.0.fault", "kill_controller"),
    ({"chaos": {"faults": [{"fault": "network", "args": {"mode": "reset"}, "schedule": {"at_s": [1]}}]}},
     "chaos.faults.0.fault", "'network'"),
    ({"workloads": []}, "workloads", "at least one workload"),
    ({"workloads": [{**TASKS, "name": "workloads"}], "slos": [{"check": "tasks_failed(workloads) == 0"}]},
     "workloads.0.name", "other than 'workloads'"),
    ({"app": "nothing"}, "app", "or 'none'"),
    ({"chaos": {"resource_killer": True}}, "chaos.resource_killer", "at least one node fault"),
    ({"chaos": {"resource_killer": True, "faults": [{"fault": "cpu_stress", "schedule": {"at_s": [1]}}]}},
     "chaos.resource_killer", "at least one node fault"),
])
def test_bad_workload_only_scenarios_are_one_line_each(change: dict[str, Any], key: str, words: str) -> None:
    lines = problems(core(**change))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"s.yaml: {key}: expected") and words in lines[0]


def test_resource_killer_with_a_node_fault_is_valid_with_or_without_an_app() -> None:
    chaos = {"resource_killer": True, "faults": [NODE_FAULT]}
    assert scenario_from_dict(core(chaos=chaos), "s.yaml").chaos.resource_killer
    with_app = {"name": "s", "duration_s": 5, "cluster": {"nodes": NODES}, "chaos": chaos}
    assert scenario_from_dict(with_app, "s.yaml").chaos.resource_killer


def test_serve_faults_and_request_slos_are_fine_with_an_app() -> None:
    data = {"name": "s", "duration_s": 5, "cluster": {"nodes": NODES}, "slos": [{"check": "p(99) < 100ms"}],
            "chaos": {"faults": [{"fault": "kill_replica", "schedule": {"at_s": [1]}}]}}
    assert scenario_from_dict(data, "s.yaml").chaos.faults[0].fault == "kill_replica"


def test_cli_reports_a_bad_workload_only_file_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "core.yaml"
    path.write_text(yaml.safe_dump(core(load={"users": 1})))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
    assert len(lines) == 1 and "load: expected no load section" in lines[0] and str(path) in lines[0]
    assert main(["validate", str(path), "--set", "load=null"]) == 0


def test_implicit_killer_slo_only_with_the_killer() -> None:
    assert implicit_slos(scenario_from_dict(core(), "s.yaml")) == []
    with_killer = scenario_from_dict(core(chaos={"resource_killer": True, "faults": [NODE_FAULT]}), "s.yaml")
    killer, faults = implicit_slos(with_killer)
    assert killer.name == KILLER_SLO_NAME and faults.name == FAULTS_SLO_NAME
    asked = with_killer.model_copy(update={"slos": [SLOSpec(check="resource_killer_started==1")]})
    assert [s.name for s in implicit_slos(asked)] == [FAULTS_SLO_NAME]


# -- SLOs ----------------------------------------------------------------------


def cpu(at: float, available: float, total: float = 4.0) -> dict[str, Any]:
    return sample(at, available={"CPU": available}, resources={"CPU": total})


def judge(check: str, *groups: Any, window: str | None = None):
    return evaluate(SLOSpec(check=check, window=window), timeline(phase("run", 0, 60), *groups))


def test_resources_reclaimed_time_counts_from_the_workload_end_to_cpu_free_again() -> None:
    records = [workload_result(20, "t", passed=True), cpu(19, 1), cpu(20.4, 2), cpu(21.2, 4, 4), cpu(22, 4)]
    verdict = judge("resources_reclaimed_time(t) < 5s", records)
    assert verdict.passed and verdict.measured == pytest.approx(1.2)
    assert judge("resources_reclaimed_time(t) < 1s", records).passed is False
    # no argument: the workload that ended last; a replacement node's CPU counts in the total
    later = [*records, workload_result(30, "u", passed=True), cpu(30.5, 3, 5), cpu(31, 5, 5)]
    assert judge("resources_reclaimed_time < 5s", later).measured == pytest.approx(1.0)
    assert judge("resources_reclaimed_time(t, GPU) < 5s", records).measured is None  # no GPU at all


def test_resources_never_reclaimed_or_never_sampled_fail_with_the_reason() -> None:
    never = judge("resources_reclaimed_time(t) < 5s", [workload_result(20, "t"), cpu(21, 3), cpu(25, 3.5)])
    assert not never.passed and never.measured == float("inf")
    assert "stayed below the total" in never.message and "3.5 of 4" in never.message
    unsampled = judge("resources_reclaimed_time(t) < 5s", [cpu(10, 4), workload_result(20, "t")])
    assert not unsampled.passed and "no sample after 't' ended" in unsampled.message
    missing = judge("resources_reclaimed_time(x) < 5s", [workload_result(20, "t"), cpu(21, 4)])
    assert not missing.passed and "workload 'x' reported no result" in missing.message


def chaos_result(fid: str, at: float, noticed_after: float | None, kills_node: bool = True, **extra: Any) -> dict:
    record = {"t": T0 + at + 5, "kind": "chaos", "event": "result", "id": fid, "fault": "terminate_node",
              "outcome": "injected", "kills_node": kills_node, "actual_t": T0 + at,
              "targets": [{"node": "w1"}], **extra}
    if noticed_after is not None:
        record["noticed_after_s"] = noticed_after
    else:
        record["noticed"] = "not noticed within 60s"
    return record


def test_dead_node_noticed_time_is_the_slowest_notice_of_the_window() -> None:
    records = [chaos_result("fault-1", 5, 1.6), chaos_result("fault-2", 30, 2.4),
               chaos_result("fault-3", 40, 9.0, kills_node=False),  # a stress fault: not a node death
               {**chaos_result("replace-1", 8, 3.5), "kills_node": None}]
    verdict = judge("dead_node_noticed_time < 3s", records)
    assert verdict.passed and verdict.measured == pytest.approx(2.4)
    assert judge("dead_node_noticed_time < 2s", records, window="before fault-2").measured is None
    first = judge("node_noticed_time < 2s", records, window="from run to run")
    assert first.measured == pytest.approx(2.4)


def test_dead_node_not_noticed_or_no_node_fault_fails_with_the_reason() -> None:
    missed = judge("dead_node_noticed_time < 5s", [chaos_result("fault-1", 5, 1.0), chaos_result("fault-2", 9, None)])
    assert not missed.passed and missed.measured == float("inf")
    assert "fault-2 (terminate_node on w1): not noticed within 60s" in missed.message
    nothing = judge("dead_node_noticed_time < 5s", [chaos_result("fault-1", 5, 1.0, outcome="failed")])
    assert not nothing.passed and "no node fault was injected" in nothing.message


def test_resource_killer_started_says_when_the_script_never_started_it() -> None:
    ready = {"t": T0 + 1, "kind": "chaos", "event": "killer_ready"}
    unfired = {"t": T0 + 50, "kind": "chaos", "event": "result", "id": "fault-1", "outcome": "not_reached"}
    never = judge("resource_killer_started == 1", [ready, unfired])
    assert not never.passed and never.measured == 0
    assert "the script never started the ResourceKiller" in never.message and "1 planned fault(s) not_reached" in never.message
    started = judge("resource_killer_started == 1", [ready, {"t": T0 + 3, "kind": "chaos", "event": "killer_run"}])
    assert started.passed


# -- the lost tasks are named --------------------------------------------------


def test_tasks_workload_names_the_tasks_it_lost() -> None:
    spec = TasksWorkloadSpec(type="tasks", name="t", num_tasks=30, max_retries=0)
    work = TasksWorkload(spec, 10)
    work.counts["submitted"] = 28
    work._failed = {3: "WorkerCrashedError", 11: "NodeDiedError"}
    work._pending = {"ref": 7}
    assert work.lost_tasks() == [3, 7, 11, 28, 29]
    named = work._name_lost()
    assert "task 3 (WorkerCrashedError)" in named and "task 7 (no answer)" in named
    assert "task 28 (not submitted)" in named
    work._failed = {i: "WorkerCrashedError" for i in range(100, 125)}
    assert named != work._name_lost() and work._name_lost().endswith("and 8 more")


# -- the schedule starts at the script's run() --------------------------------


class FakeRelay:
    """What the chaos component reads of chaos.killer.KillerRelay, without Ray."""

    def __init__(self) -> None:
        self.started, self.stopped = threading.Event(), threading.Event()
        self.run_t: float | None = None

    def bind(self, injected: Any, on_stop: Any) -> None:
        self.injected, self.on_stop = injected, on_stop


def killer_ctx(tmp_path: Path, at_s: list[float]) -> tuple[RunContext, TimelineWriter]:
    scenario = scenario_from_dict({
        "name": "unit", "seed": 2, "duration_s": 60, "timeout_s": 120,
        "cluster": {"address": "127.0.0.1:1"},  # never contacted: no live node to hit, shots skip
        "chaos": {"resource_killer": True, "allow_destructive_on_existing": True,
                  "faults": [{"fault": "kill_raylet", "schedule": {"at_s": at_s}}]},
    }, "unit")
    writer = TimelineWriter(tmp_path / "timeline" / "events.jsonl")
    ctx = RunContext(scenario=scenario, scenario_file="unit", run_id="r", run_dir=tmp_path, timeline=writer, ledger=ProcessLedger("r"), console=Console(quiet=True))
    return ctx, writer


def _await(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_offsets_count_from_run_and_stop_run_halts_the_schedule(tmp_path: Path) -> None:
    ctx, writer = killer_ctx(tmp_path, [2.0, 40.0])
    relay = FakeRelay()
    component = ChaosComponent(ctx.scenario.chaos, relay=relay)  # type: ignore[arg-type]
    component.start(ctx)
    ctx.load_started_at = time.time() - 10  # the load's start is not the origin with the killer
    time.sleep(0.2)
    assert component.results == {}
    relay.run_t = time.time() - 1.9
    relay.started.set()
    _await(lambda: "fault-1" in component.results)
    first = component.results["fault-1"]
    assert first["planned_t"] == pytest.approx(relay.run_t + 2.0)
    relay.stopped.set()
    relay.on_stop()
    component.stop(ctx)
    writer.close()
    second = {r["id"]: r for r in Timeline.load(tmp_path).shot_results(stored=True)}["fault-2"]
    assert second["outcome"] == "not_reached" and "stop_run()" in second["reason"]
    assert second["planned_t"] == pytest.approx(relay.run_t + 40.0)
    assert "ResourceKiller.run()" in ctx.artifacts.chaos_schedule["relative_to"]


def test_a_killer_never_started_leaves_every_fault_not_reached(tmp_path: Path) -> None:
    ctx, writer = killer_ctx(tmp_path, [0.5, 1.0])
    component = ChaosComponent(ctx.scenario.chaos, relay=FakeRelay())  # type: ignore[arg-type]
    component.start(ctx)
    ctx.load_started_at = time.time()
    time.sleep(1.3)
    component.stop(ctx)
    writer.close()
    results = Timeline.load(tmp_path).shot_results(stored=True)
    assert [r["outcome"] for r in results] == ["not_reached", "not_reached"]
    assert all("never started the ResourceKiller" in r["reason"] for r in results)
    assert all(r["planned_t"] is None for r in results)


# -- the live view and the report show what a workload-only run has ----------


def test_live_view_of_a_workload_only_run_shows_workloads_not_requests() -> None:
    state = LiveState(planned_s=0, has_requests=False)
    state.ingest([
        {"t": T0, "kind": "phase", "name": "workloads", "edge": "start"},
        {"t": T0 + 1, "kind": "workload", "name": "t", "event": "progress", "ok": 4, "submitted": 9, "planned": 20,
         "lost": 16},
        {"t": T0 + 2, "kind": "sample", "nodes_alive": 3, "nodes_dead": 0},
    ])
    snap = state.snapshot(T0 + 5)
    line = render_line(snap)
    assert "workloads t: ok 4 submitted 9 planned 20" in line and "lost" not in line
    assert "offered" not in line and "p99" not in line and "replicas" not in line
    assert snap.elapsed_s == pytest.approx(5) and "nodes 3" in line and " 5s |" in line
    state.ingest([{"t": T0 + 6, "kind": "workload", "name": "t", "event": "result", "ok": 20, "lost": 0,
                   "passed": True}])
    text = Console(record=True, width=120)
    text.print(render_panel(state.snapshot(T0 + 7), "core"))
    shown = text.export_text()
    assert "ok 20" in shown and "lost 0 passed" in shown and "latency" not in shown
    assert "until the workloads end" in shown


def test_report_of_a_workload_only_run_has_cpu_not_request_charts(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    folder = run_dir / "timeline"
    folder.mkdir(parents=True)
    records = [
        *phase("run", 0, 30), *phase("workloads", 2, 20),
        cpu(3, 1), cpu(10, 2), cpu(21, 4),
        workload_result(20, "t", ok=10, lost=0, passed=True),
        chaos_result("fault-1", 6, 1.6),
    ]
    with open(folder / "events.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({**record, **({"nodes_alive": 3} if record["kind"] == "sample" else {})}) + "\n")
    summary = {"scenario": "core", "status": "passed", "exit_code": 0, "run_id": "r",
               "config": {"app": None, "load": None, "description": "workload-only"},
               "verdicts": [], "metrics": {"workload.t.ok": 10}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = build_report(run_dir)
    assert 'id="chart-cpu"' in page and 'id="chart-nodes"' in page
    for chart in ("rps", "latency", "errors", "replicas"):
        assert f'id="chart-{chart}"' not in page
    assert Timeline.load(run_dir).window("workloads") is not None


def test_terminal_says_why_a_verdict_failed() -> None:
    from harness.model.outcome import RunOutcome
    from harness.report.terminal import print_verdicts

    records = [workload_result(20, "t", lost=2, wrong=0, why="lost: task 6 (NodeDiedError), task 9 (NodeDiedError)")]
    outcome = RunOutcome(run_id="r", scenario_name="core", scenario_file="s.yaml", seed=1, run_dir="/tmp/r", started_at=0.0)
    outcome.verdicts = [judge("tasks_failed(t) == 0", records), judge("tasks_lost(t) <= 2", records)]
    console = Console(record=True, width=200)
    print_verdicts(console, outcome)
    text = console.export_text()
    assert "FAIL tasks_failed(t) == 0: " in text and "task 6 (NodeDiedError)" in text
    assert "FAIL tasks_lost" not in text  # passed verdicts get no line
