"""JUnit for CI: one testcase per SLO; an infrastructure error is an error, not a failure.

Properties carry the seed and metrics; system-out repeats the seed and the
reproduce command because some CI systems (GitLab) drop properties.
"""

from __future__ import annotations

from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from harness.files import write_atomic
from harness.outcome import RunOutcome


def build_suite(outcome: RunOutcome) -> TestSuite:
    classname = f"harness.{outcome.scenario_name}"
    context = (
        f"run: {outcome.run_id}\nseed: {outcome.seed}\n"
        f"reproduce: {outcome.reproduce_command}\n"
    )
    cases = []
    for verdict in outcome.verdicts:
        elapsed = None
        if verdict.window_start is not None and verdict.window_end is not None:
            elapsed = max(0.0, verdict.window_end - verdict.window_start)
        case = TestCase(verdict.name, classname=classname, elapsed_sec=elapsed,
                        stdout=f"{verdict.message}\n{context}")
        if not verdict.passed:
            if outcome.error is not None:
                case.add_skipped_info(f"not judged: the run ended with an infrastructure error ({verdict.message})")
            else:
                case.add_failure_info(
                    message=f"{verdict.message}. Reproduce: {outcome.reproduce_command}",
                    output=f"{verdict.message}\n{context}",
                    failure_type="SLOFailure",
                )
        cases.append(case)
    if outcome.error is not None:
        case = TestCase("infrastructure", classname=classname, stdout=context,
                        elapsed_sec=max(0.0, outcome.ended_at - outcome.started_at))
        case.add_error_info(message=f"{outcome.error_kind}: {outcome.error}", output=context,
                            error_type=outcome.error_kind or "InfrastructureError")
        cases.append(case)
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
    return TestSuite(outcome.scenario_name, cases, properties=properties,
                     timestamp=_iso(outcome.started_at))


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def write_junit(path: Path, suites: list[TestSuite]) -> None:
    write_atomic(path, to_xml_report_string(suites, prettyprint=True, encoding="utf-8"))
