"""JUnit read back by a real JUnit reader: SLO failures are failures, infra errors are errors."""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped

from harness.outcome import RunOutcome
from harness.report.junit import build_suite, write_junit
from harness.slo import Verdict


def verdict(name: str, passed: bool) -> Verdict:
    return Verdict(name, "p(99) < 5ms", "load", passed, 7.0, 5.0, "<", "ms",
                   f"p(99) < 5ms {'met' if passed else 'violated'}: measured 7.0ms", 0.0, 10.0, {})


def outcome(verdicts: list[Verdict], error: str | None = None) -> RunOutcome:
    out = RunOutcome("r1", "smoke", "configs/scenarios/smoke.yaml", 42, "results/r1", 0.0, 12.0,
                     verdicts=verdicts, metrics={"requests": 10})
    if error:
        out.fail("cluster", error)
    return out


def read(tmp_path, run: RunOutcome):
    path = tmp_path / "junit.xml"
    write_junit(path, [build_suite(run)])
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


def test_infrastructure_error_is_an_error_not_a_failure(tmp_path):
    run = outcome([verdict("fast", False)], error="cluster did not start")
    assert run.exit_code == 3
    suite = read(tmp_path, run)
    assert suite.failures == 0 and suite.errors == 1
    kinds = {c.name: type(c.result[0]) for c in suite if c.result}
    assert kinds == {"fast": Skipped, "infrastructure": Error}
