"""JUnit read back by a real JUnit reader: SLO failures are failures, infra errors are errors."""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped

from harness.model.outcome import RunOutcome, Verdict
from harness.report.junit import build_suite, write_junit
from tests.junit_check import junit_problems


def verdict(name: str, passed: bool) -> Verdict:
    return Verdict(name=name, check="p(99) < 5ms", window="load", passed=passed, measured=7.0, bound=5.0, op="<", unit="ms",
                   message=f"p(99) < 5ms {'met' if passed else 'violated'}: measured 7.0ms", window_start=0.0, window_end=10.0, inputs={})


def outcome(verdicts: list[Verdict], error: str | None = None) -> RunOutcome:
    out = RunOutcome(run_id="r1", scenario_name="smoke", scenario_file="configs/scenarios/smoke.yaml", seed=42, run_dir="results/r1", started_at=0.0, ended_at=12.0,
                     verdicts=verdicts, metrics={"requests": 10})
    if error:
        out.fail("cluster", error)
    return out


def read(tmp_path, run: RunOutcome):
    path = tmp_path / "junit.xml"
    write_junit(path, [build_suite(run)])
    assert junit_problems(path) == []
    return next(iter(JUnitXml.fromfile(str(path))))


def test_failed_slo_is_a_failure_with_value_window_and_reproduce(tmp_path):
    run = outcome([verdict("fast", True), verdict("faster", False)])
    assert run.exit_code == 1
    suite = read(tmp_path, run)
    assert (suite.tests, suite.failures, suite.errors) == (2, 1, 0)
    failed = [c for c in suite if c.result]
    [result] = failed[0].result
    assert isinstance(result, Failure)
    assert "measured 7.0ms" in result.message and "harness reproduce results/r1" in result.message
    props = {p.name: p.value for p in suite.properties()}
    assert props["seed"] == "42" and props["metric.requests"] == "10"
    assert "seed: 42" in failed[0].system_out
    # CI annotations point at the scenario file
    assert {c._elem.get("file") for c in suite} == {"configs/scenarios/smoke.yaml"}


def test_infrastructure_error_is_an_error_not_a_failure(tmp_path):
    run = outcome([verdict("fast", False)], error="cluster did not start")
    assert run.exit_code == 3
    suite = read(tmp_path, run)
    assert suite.failures == 0 and suite.errors == 1
    kinds = {c.name: type(c.result[0]) for c in suite if c.result}
    assert kinds == {"fast": Skipped, "infrastructure": Error}


def test_checker_catches_what_ci_would_misread(tmp_path):
    """The validator is not vacuous: a count that does not add up, a testcase with no
    file, a flakyFailure in a failing testcase are each named."""
    path = tmp_path / "bad.xml"
    path.write_text(
        '<testsuites tests="1"><testsuite name="s" tests="2" failures="0" errors="0" skipped="0">'
        '<testcase name="a" classname="c"><failure message="m"/><flakyFailure message="x" type="t"/>'
        '</testcase></testsuite></testsuites>')
    problems = junit_problems(path)
    assert "s/a: missing file" in problems
    assert "s: tests='2', its testcases say 1" in problems
    assert "s: failures='0', its testcases say 1" in problems
    assert any("flakyFailure> in a testcase that failed" in p for p in problems)


def test_suite_time_is_the_run_wall_time_and_a_case_time_its_window(tmp_path):
    """12 s run, two SLOs over a 10 s window: the suite says 12 s (not 20 s, the sum)."""
    suite = read(tmp_path, outcome([verdict("fast", True), verdict("ok", True)]))
    assert suite.time == 12.0
    assert [case.time for case in suite] == [10.0, 10.0]
    root = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    assert float(root._elem.get("time")) == 12.0


def test_reproduce_command_is_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = outcome([verdict("fast", False)])
    run.run_dir = str(tmp_path / "results" / "r1")
    assert run.reproduce_command == "harness reproduce results/r1"
    run.run_dir = "/elsewhere/results/r1"  # outside the working folder: kept whole
    assert run.reproduce_command == "harness reproduce /elsewhere/results/r1"
