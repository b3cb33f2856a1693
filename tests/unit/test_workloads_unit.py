"""Workload parts that need no cluster: result checks, script runs, config."""

import json
import sys
import textwrap
import time

import pytest
from rich.console import Console

from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.model.errors import ConfigError
from harness.model.scenario import Scenario
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict
from harness.workloads import build_workloads
from harness.workloads.actors import lost_messages
from harness.workloads.script import ScriptWorkload, numeric_fields
from harness.workloads.tasks import expected_value, leaf_value

BASE = {
    "name": "w", "duration_s": 5, "timeout_s": 60,
    "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]},
}


def scenario(**extra):
    return Scenario.model_validate({**BASE, **extra})


def test_expected_value_sums_children():
    assert expected_value(7, 3, 0) == leaf_value(7, 3)
    assert expected_value(7, 3, 2) == leaf_value(7, 9) + leaf_value(7, 10) + leaf_value(7, 11)
    assert expected_value(7, 3, 2) != expected_value(8, 3, 2)  # seeded


def test_lost_messages_are_acked_but_unseen():
    assert lost_messages({0: {1, 2, 3}, 1: {1}}, {0: [1, 3], 1: [1, 2]}) == {0: [2]}
    assert lost_messages({0: set()}, {}) == {}


def test_numeric_fields_flatten_and_read_perf_metrics():
    data = {"time": 3.5, "ok": True, "name": "x", "nested": {"a": 1, "b": {"c": 2}},
            "perf_metrics": [{"perf_metric_name": "tput", "perf_metric_value": 99, "perf_metric_type": "THROUGHPUT"}]}
    assert numeric_fields(data) == {"time": 3.5, "nested.a": 1.0, "nested.b.c": 2.0, "tput": 99.0}


def test_build_workloads_by_type(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    built = build_workloads(scenario(workloads=[
        {"type": "tasks", "name": "t"}, {"type": "actors", "name": "a"},
        {"type": "script", "name": "s", "path": str(script)},
    ]))
    assert [w.name for w in built] == ["workload:t", "workload:a", "workload:s"]
    assert built[0].spread_s == 5  # defaults to the scenario's duration


@pytest.mark.parametrize(("extra", "expected"), [
    ({"workloads": [{"type": "tasks", "name": "t"}, {"type": "tasks", "name": "t"}]}, "expected unique workload names"),
    ({"workloads": [{"type": "bogus", "name": "t"}]}, "workloads.0"),
    ({"workloads": [{"type": "script", "name": "s", "path": "/nonexistent.py"}]}, "workloads.0.path: expected an existing script file"),
    ({"workloads": [{"type": "tasks", "name": "t", "timeout_s": 90}]}, "workloads.0.timeout_s: expected less than the scenario's timeout_s"),
    ({"workloads": [{"type": "tasks", "name": "t", "resources": {"gpu_x": 1}}]},
     "workloads.0.resources.gpu_x: expected a resource some node offers"),
    ({"host_guard": {"cpu_percent": 120}}, "host_guard.cpu_percent"),
    ({"host_guard": {"memory_percent": None}}, "expected at least one of cpu_percent"),
    ({"recorder": {"interval_s": 2}}, "recorder.interval_s"),
    ({"slos": [{"check": "requests > 1", "window": "30 after load"}]}, "slos.0.window: expected a window"),
    ({"slos": [{"check": "time_to_replicas(Echo) < 5s"}]}, "slos.0.check: expected time_to_replicas(Deployment, N)"),
    ({"slos": [{"check": "resource_recovery_time(CPU, all) < 5s"}]}, "slos.0.check: expected resource_recovery_time"),
])
def test_bad_sections_are_one_line_errors(extra, expected):
    with pytest.raises(ConfigError) as info:
        scenario_from_dict({**BASE, **extra}, "x.yaml")
    assert any(line.startswith("x.yaml: ") and expected in line for line in info.value.lines), info.value.lines


def make_ctx(tmp_path, scen):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ctx = RunContext(scenario=scen, scenario_file="x.yaml", run_id="r", run_dir=run_dir,
                     timeline=TimelineWriter(run_dir / "timeline" / "events.jsonl"),
                     ledger=ProcessLedger("r"), console=Console(quiet=True))
    ctx.load_ended_at = time.time()
    return ctx


def test_script_workload_reports_exit_code_metrics_and_pid(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent("""
        import json, os, sys
        with open(os.environ["TEST_OUTPUT_JSON"], "w") as f:
            json.dump({"time": 1.25, "args": len(sys.argv) - 1,
                       "address": os.environ["RAY_ADDRESS"] == "", "loopback": os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"]}, f)
        sys.exit(3)
    """))
    scen = scenario(workloads=[{"type": "script", "name": "drv", "path": str(script), "args": ["a", "b"], "timeout_s": 30}])
    ctx = make_ctx(tmp_path, scen)
    work = ScriptWorkload(scen.workloads[0])
    work.start(ctx)
    work.stop(ctx)
    ctx.timeline.close()
    assert work.result["exit_code"] == 3 and work.result["passed"] is False
    assert work.result["metrics"] == {"time": 1.25, "args": 2.0}
    assert "exited with code 3" in work.result["why"]
    assert work.process.pid in {p.pid for p in ctx.ledger.owned()}
    events = Timeline.load(ctx.run_dir).events_of("workload")
    assert [e["event"] for e in events] == ["start", "process", "result"]
    assert work.metrics()["workload.drv.exit_code"] == 3
    assert "drv" in Timeline.load(ctx.run_dir).windows  # the workload is a window too


def test_script_workload_is_stopped_at_its_timeout(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(60)\n")
    scen = scenario(workloads=[{"type": "script", "name": "slow", "path": str(script), "timeout_s": 1}])
    ctx = make_ctx(tmp_path, scen)
    work = ScriptWorkload(scen.workloads[0])
    started = time.monotonic()
    work.start(ctx)
    work.stop(ctx)
    assert time.monotonic() - started < 15
    assert work.result["timed_out"] is True and work.result["passed"] is False
    assert work.process.poll() is not None


def test_script_workload_aborts_when_the_run_ends_early(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(60)\n")
    scen = scenario(workloads=[{"type": "script", "name": "slow", "path": str(script), "timeout_s": 50}])
    ctx = make_ctx(tmp_path, scen)
    ctx.load_ended_at = None  # an infrastructure error ended the run
    work = ScriptWorkload(scen.workloads[0])
    started = time.monotonic()
    work.start(ctx)
    work.stop(ctx)
    assert time.monotonic() - started < 15
    assert work.result["passed"] is False and work.process.poll() is not None


def test_workload_that_crashes_reports_why(tmp_path):
    scen = scenario(workloads=[{"type": "tasks", "name": "t", "timeout_s": 5}])
    ctx = make_ctx(tmp_path, scen)
    work = build_workloads(scen)[0]
    work.start(ctx)  # no Ray here: the workload fails and says so, the harness goes on
    work.stop(ctx)
    assert work.result["passed"] is False
    assert "not connected to the run's Ray cluster" in work.result["why"]
    assert json.loads(json.dumps(work.result))  # plain data for the timeline
    assert sys.modules.get("gevent") is None


def test_script_verdict_quotes_the_error_line_of_its_output(tmp_path):
    from harness.model.scenario import SLOSpec
    from harness.slo.core import evaluate

    script = tmp_path / "needs_pandas.py"
    script.write_text("print('starting')\nimport nomod\n")
    scen = scenario(workloads=[{"type": "script", "name": "train", "path": str(script), "timeout_s": 30}])
    ctx = make_ctx(tmp_path, scen)
    work = ScriptWorkload(scen.workloads[0])
    work.start(ctx)
    work.stop(ctx)
    ctx.timeline.close()
    cause = "ModuleNotFoundError: No module named 'nomod'"
    assert work.result["error_line"] == cause
    assert work.result["why"].startswith(cause) and "exited with code 1" in work.result["why"]
    verdict = evaluate(SLOSpec(check="exit_code(train) == 0"), Timeline.load(ctx.run_dir))
    assert not verdict.passed and cause in verdict.message and cause in verdict.why
    line = verdict.line()
    assert len(line) <= 80 and line.startswith(f"FAIL exit_code(train) == 0: {cause}")
