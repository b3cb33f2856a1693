import pytest

from harness.model.scenario import SLOSpec
from harness.slo.core import evaluate
from harness.slo.registry import SLOSyntaxError
from tests.unit.slo_timelines import phase, timeline, workload_result


def judge(check, *records):
    return evaluate(SLOSpec(check=check), timeline(phase("run", 0, 60), phase("load", 0, 30), *records))


def test_tasks_failed_adds_lost_and_wrong_over_the_run():
    result = workload_result(45, "chaos", lost=2, wrong=1, ok=97, why="2 of 100 tasks lost")
    verdict = judge("tasks_failed(chaos) == 0", result)
    assert verdict.window == "run"  # results arrive after load: the default window is the run
    assert not verdict.passed and verdict.measured == 3
    assert "2 of 100 tasks lost" in verdict.message
    assert judge("tasks_lost(chaos) <= 2", result).passed
    assert not judge("tasks_wrong(chaos) == 0", result).passed


def test_script_exit_code_and_metrics():
    result = workload_result(50, "train", exit_code=0, metrics={"time": 12.5, "throughput": 300.0})
    assert judge("exit_code(train) == 0", result).passed
    assert judge("workload(train, time) < 20", result).passed
    assert not judge("workload(train, throughput) >= 500", result).passed


def test_missing_result_or_field_is_no_data_with_reason():
    verdict = judge("exit_code(train) == 0")
    assert not verdict.passed and "workload 'train' reported no result" in verdict.message
    verdict = judge("workload(train, nope) == 0", workload_result(50, "train", exit_code=0))
    assert "has no numeric 'nope'" in verdict.message


def test_last_result_counts():
    assert judge("messages_lost(r) == 0", workload_result(10, "r", lost=3), workload_result(20, "r", lost=0)).passed


@pytest.mark.parametrize("check", ["tasks_failed() == 0", "workload(train) == 0", "exit_code(a, b) == 0"])
def test_bad_arguments(check):
    with pytest.raises(SLOSyntaxError):
        judge(check)
