"""`faults injected as planned`: the implicit SLO of every scenario with chaos, on synthetic
timelines (records as chaos.component writes them), and the component's own records."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from chaos.component import ChaosComponent
from harness.measure.records import Abort, Chaos
from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.model.scenario import ChaosSpec, SLOSpec
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict
from harness.slo.core import evaluate
from harness.slo.implicit import FAULTS_CHECK, FAULTS_SLO_NAME, implicit_slos
from tests.unit.slo_timelines import T0, chaos_result, phase, timeline

ROOT = Path(__file__).resolve().parents[2]
RUN = phase("run", 0, 40)
IMPLICIT = SLOSpec(check=FAULTS_CHECK, name=FAULTS_SLO_NAME, window="run")


def judge(*records: object):
    return evaluate(IMPLICIT, timeline(RUN, *records))


def test_every_shot_fired_passes_and_counts_them() -> None:
    verdict = judge(chaos_result(5, "fault-1", "kill_raylet"), chaos_result(7, "replace-1", "replace_node",
                                                                            replaces="w1"))
    assert verdict.passed and verdict.measured == 0
    assert verdict.inputs["planned"] == 2 and verdict.inputs["injected"] == 2


def test_a_shot_that_did_not_fire_fails_naming_the_shot_and_why() -> None:
    verdict = judge(
        chaos_result(2, "fault-1", "kill_replica"),
        chaos_result(6, "fault-2", "kill_task_worker", "no_target", detail="no task is running"),
        chaos_result(9, "fault-3", "kill_raylet", "not_reached",
                     reason="the run ended at 8.2 s after load start, before the shot was due"),
        chaos_result(4, "replace-1", "replace_node", "failed", replaces="w1", detail="RuntimeError: boom"),
    )
    assert not verdict.passed and verdict.measured == 3
    assert "fault-2 kill_task_worker at 6.0 s: no target (no task is running)" in verdict.message
    assert "fault-3 kill_raylet at 9.0 s: not injected (the run ended at 8.2 s" in verdict.message
    assert "replace-1 replace_node for w1 at 4.0 s: failed (RuntimeError: boom)" in verdict.message
    assert verdict.why.startswith("replace-1 replace_node")  # the why-line under the table, in time order


@pytest.mark.parametrize("outcome", ["refused", "failed", "skipped"])
def test_every_outcome_but_injected_is_a_miss(outcome: str) -> None:
    verdict = judge(chaos_result(3, "fault-1", "kill_raylet", outcome, reason="keep_workers_alive=1"))
    assert not verdict.passed and verdict.measured == 1 and "keep_workers_alive=1" in verdict.message


def test_optional_shots_and_capped_shots_fail_nothing_but_are_listed() -> None:
    verdict = judge(
        chaos_result(2, "fault-1", "kill_raylet"),
        chaos_result(4, "fault-2", "cpu_stress", "no_target", optional=True, detail="node gone"),
        chaos_result(8, "fault-3", "kill_raylet", "skipped", capped=True, reason="max_to_kill=1 reached"),
        chaos_result(9, "fault-4", "kill_raylet", "not_reached", capped=True, reason="stop_run() before it was due"),
    )
    assert verdict.passed and verdict.measured == 0
    assert verdict.inputs["optional_missed"] == ["fault-2 cpu_stress at 4.0 s: no target (node gone)"]
    assert len(verdict.inputs["capped"]) == 2


def test_shots_cut_short_by_a_fail_fast_abort_blame_nothing_more() -> None:
    abort = Abort.new(t=T0 + 5, slo="fast", check="p(99) < 10ms", reason="budget spent", decided_at_s=5.0)
    late = chaos_result(9, "fault-2", "kill_raylet", "not_reached", reason="the run ended at 5.2 s")
    early = chaos_result(3, "fault-1", "kill_replica", "no_target", detail="no live replica to kill")
    verdict = judge(early, late, abort)
    assert not verdict.passed and verdict.measured == 1 and "fault-2" not in verdict.why
    assert verdict.inputs["after_abort"] == ["fault-2 kill_raylet at 9.0 s: not injected (the run ended at 5.2 s)"]


def test_an_entry_that_planned_no_shot_is_a_miss_unless_optional() -> None:
    unplanned = Chaos.new(t=T0 + 0.5, event="unplanned", entry=1, fault="kill_replica",
                          reason="its schedule planned no shot between 0 s and 10 s")
    verdict = judge(chaos_result(2, "fault-1", "kill_raylet"), unplanned)
    assert not verdict.passed and "chaos.faults.1 kill_replica: never planned" in verdict.message
    assert judge(chaos_result(2, "fault-1", "kill_raylet"), {**unplanned, "optional": True}).passed


def test_no_chaos_record_at_all_is_no_data_and_fails() -> None:
    verdict = judge()
    assert not verdict.passed and verdict.no_data and "no chaos shot" in verdict.message


def test_arguments_are_refused() -> None:
    from harness.slo.core import validate_checks

    assert validate_checks([SLOSpec(check="faults_missed(x) == 0")])[0][1].startswith("expected faults_missed without")


def smoke_with(chaos: dict) -> dict:
    data = yaml.safe_load((ROOT / "configs" / "scenarios" / "smoke.yaml").read_text())
    data["chaos"] = chaos
    return data


def test_the_implicit_slo_comes_with_chaos_only_and_a_stated_one_replaces_it() -> None:
    plain = scenario_from_dict(smoke_with({}), "s.yaml")
    assert implicit_slos(plain) == []
    chaotic = scenario_from_dict(smoke_with({"faults": [{"fault": "kill_replica", "schedule": {"at_s": [3]}}]}), "s.yaml")
    (slo,) = implicit_slos(chaotic)
    assert (slo.name, slo.check, slo.window) == (FAULTS_SLO_NAME, FAULTS_CHECK, "run")
    stated = chaotic.model_copy(update={"slos": [*chaotic.slos, SLOSpec(check="faults_missed==0", name="mine")]})
    assert implicit_slos(stated) == []


def test_the_component_records_unplanned_entries_optional_shots_and_late_ones(tmp_path: Path) -> None:
    """No cluster, and nothing that talks to Ray: cloud faults find no node provider (no_target),
    exactly what the SLO must name. The spec is built directly (validation refuses it, rightly)."""
    scenario = scenario_from_dict(smoke_with({}), "s.yaml")
    spec = ChaosSpec.model_validate({"faults": [
        {"fault": "launch_failure", "schedule": {"at_s": [0.05]}},
        {"fault": "termination_failure", "schedule": {"at_s": [0.1]}, "optional": True},
        {"fault": "cloud_api_lag", "schedule": {"at_s": [14]}},
        {"fault": "launch_failure", "schedule": {"poisson_per_s": 0.001, "start_s": 14.9}},  # draws nothing
    ]})
    writer = TimelineWriter(tmp_path / "timeline" / "events.jsonl")
    ctx = RunContext(scenario=scenario, scenario_file="unit", run_id="r", run_dir=tmp_path, timeline=writer, ledger=ProcessLedger("r"), console=Console(quiet=True))
    component = ChaosComponent(spec, join_timeout_s=10)
    writer.phase("run", "start")
    component.start(ctx)
    ctx.load_started_at = time.time()
    deadline = time.time() + 10
    while len(component.results) < 2 and time.time() < deadline:
        time.sleep(0.02)
    ctx.load_ended_at = time.time()
    component.stop(ctx)
    writer.phase("run", "end")
    writer.close()

    recorded = Timeline.load(tmp_path)
    (unplanned,) = [e for e in recorded.events_of("chaos") if e.get("event") == "unplanned"]
    assert unplanned["entry"] == 3 and unplanned["fault"] == "launch_failure"
    by_id = {r["id"]: r for r in recorded.shot_results(stored=True)}
    assert by_id["fault-1"]["outcome"] == "no_target" and "not an autoscaling cluster" in by_id["fault-1"]["detail"]
    assert by_id["fault-2"]["optional"] is True and by_id["fault-2"]["outcome"] == "no_target"
    assert by_id["fault-3"]["outcome"] == "not_reached" and "before the shot was due" in by_id["fault-3"]["reason"]
    verdict = evaluate(IMPLICIT, recorded)
    assert not verdict.passed and verdict.measured == 3  # fault-1, fault-3 and the unplanned entry
    assert "fault-1 launch_failure at 0.1 s: no target (not an autoscaling cluster" in verdict.message
    assert "fault-3 cloud_api_lag at 14.0 s: not injected (the run ended at" in verdict.message
    assert "chaos.faults.3 launch_failure: never planned" in verdict.message
    assert "fault-2" not in verdict.why and verdict.inputs["optional_missed"][0].startswith("fault-2 termination_failure")
