"""JUnit for CI: one testcase per SLO; an infrastructure error is an error, not a failure.

Written with junitparser (its xunit2 flavour, the one Jenkins and Maven Surefire read).
Every testcase carries `file` (the scenario file) so CI annotations point at it.
Properties carry the seed and metrics; system-out repeats the seed and the
reproduce command because some CI systems (GitLab) drop properties.

Times: a testsuite's `time` is the run's wall time (start to end, teardown included); a
testcase's `time` is the length of the window its SLO judged (the infrastructure case:
the run's wall time), not the time spent evaluating it, which is negligible.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

from junitparser import Error, Failure, Skipped
from junitparser.xunit2 import JUnitXml, TestCase, TestSuite

from harness.files import write_atomic
from harness.model.outcome import RunOutcome, Verdict

INFRA_CASE = "infrastructure"


def set_wall_time(suite: TestSuite, seconds: float) -> None:
    """The testsuite's `time`: wall seconds of what it reports. junitparser's
    update_statistics() overwrites it with the sum of the testcases' times, so the
    value is kept on the object too and put back by render_junit."""
    suite.wall_s = round(max(0.0, seconds), 3)
    suite.time = suite.wall_s


def wall_time(suite: TestSuite) -> float | None:
    return getattr(suite, "wall_s", None)


def run_context(outcome: RunOutcome) -> str:
    """The lines every testcase of a run repeats in system-out."""
    return f"run: {outcome.run_id}\nseed: {outcome.seed}\nreproduce: {outcome.reproduce_command}\n"


def new_case(name: str, classname: str, scenario_file: str, seconds: float | None = None) -> TestCase:
    case = TestCase(name, classname, None if seconds is None else round(seconds, 3))
    case._elem.set("file", scenario_file)  # junitparser has no attribute for it: set it on the element
    return case


def build_suite(outcome: RunOutcome) -> TestSuite:
    classname = f"harness.{outcome.scenario_name}"
    context = run_context(outcome)
    suite = TestSuite(outcome.scenario_name)
    for verdict in outcome.verdicts:
        elapsed = None
        if verdict.window_start is not None and verdict.window_end is not None:
            elapsed = max(0.0, verdict.window_end - verdict.window_start)
        case = new_case(verdict.name, classname, outcome.scenario_file, elapsed)
        case.system_out = f"{verdict.message}\n{context}"
        for key, value in verdict_properties(verdict).items():
            case.add_property(key, value)
        if not verdict.passed:
            if outcome.error is not None:
                case.result = [Skipped(
                    f"not judged: the run ended with an infrastructure error ({verdict.message})")]
            else:
                failure = Failure(f"{verdict.message}. Reproduce: {outcome.reproduce_command}", "SLOFailure")
                failure.text = f"{verdict.message}\n{context}"
                case.result = [failure]
        suite.add_testcase(case)
    if outcome.error is not None:
        case = new_case(INFRA_CASE, classname, outcome.scenario_file,
                        max(0.0, outcome.ended_at - outcome.started_at))
        case.system_out = context
        error = Error(f"{outcome.error_kind}: {outcome.error}", outcome.error_kind or "InfrastructureError")
        error.text = context
        case.result = [error]
        suite.add_testcase(case)
    properties = {
        "run_id": outcome.run_id,
        "seed": str(outcome.seed),
        "scenario_file": outcome.scenario_file,
        "status": outcome.status,
        "reproduce": outcome.reproduce_command,
    }
    for key, value in sorted(outcome.metrics.items()):
        if isinstance(value, (int, float)):
            properties[f"metric.{key}"] = f"{value:g}"
    for key, value in properties.items():
        suite.add_property(key, value)
    suite.timestamp = _iso(outcome.started_at)
    set_wall_time(suite, outcome.ended_at - outcome.started_at)
    return suite


def verdict_properties(verdict: Verdict) -> dict[str, str]:
    """A testcase's properties: the outcome at the scenario's confidence, its interval,
    and when a fail-fast run decided it."""
    props = {"outcome": verdict.outcome, "result": verdict.result_text()}
    if verdict.interval:
        for key in ("low", "high", "confidence", "method"):
            value = verdict.interval.get(key)
            props[f"interval.{key}"] = "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    if verdict.decided_at_s is not None:
        props["decided_at_s"] = f"{verdict.decided_at_s:g}"
        props["aborted"] = str(verdict.aborted).lower()
    return props


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def _schema_order(suite: TestSuite) -> None:
    """Surefire's XSD order: a testsuite's properties first; a testcase's results before
    its system-out (junitparser appends children in the order they were set)."""
    elem = suite._elem
    for props in elem.findall("properties"):
        elem.remove(props)
        elem.insert(0, props)
    for case in elem.findall("testcase"):
        for props in case.findall("properties"):
            case.remove(props)
            case.insert(0, props)
        for tag in ("system-out", "system-err"):
            for child in case.findall(tag):
                case.remove(child)
                case.append(child)


def render_junit(suites: list[TestSuite]) -> bytes:
    xml = JUnitXml("harness")
    for suite in suites:
        suite.update_statistics()
        _schema_order(suite)
        xml.append(suite)  # add_testsuite would merge suites it deems equal
    xml.update_statistics()
    walls = [wall_time(suite) for suite in suites]
    for suite, wall in zip(suites, walls, strict=True):
        if wall is not None:
            suite.time = wall
    xml.time = round(sum(w if w is not None else s.time for w, s in zip(walls, suites, strict=True)), 3)
    xml._elem.set("skipped", str(sum(suite.skipped for suite in suites)))  # junitparser omits it
    buffer = io.BytesIO()
    xml.write(buffer, pretty=True)
    return buffer.getvalue()


def write_junit(path: Path, suites: list[TestSuite]) -> None:
    write_atomic(path, render_junit(suites))
