"""The suite's JUnit, read back with junitparser and checked against Surefire's rules: flaky attempts, non-blocking failures,
regressions, retried infrastructure errors and skipped scenarios (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser.xunit2 import FlakyFailure, JUnitXml

from harness.gate.entry_result import EntryResult
from harness.gate.regression import RegressionVerdict
from harness.gate.suite_config import ResolvedEntry, load_suite
from harness.gate.suite_report import entry_suites
from harness.gate.verdict import Decision
from harness.model.outcome import RunOutcome, Verdict
from harness.report.junit import write_junit
from tests.junit_check import junit_problems

SCENARIO = """
name: tiny
duration_s: 5
timeout_s: 60
cluster: {nodes: [{name: head, num_cpus: 1}]}
slos: [{name: enough, check: "requests >= 1"}, {name: fast, check: "p(99) < 100ms"}]
"""


@pytest.fixture()
def entries(tmp_path: Path) -> dict[str, ResolvedEntry]:
    (tmp_path / "tiny.yaml").write_text(SCENARIO)
    names = ["steady", "flaky", "broken", "jailed", "infra", "late"]
    body = "name: s\nfrequency: nightly\nscenarios:\n" + "".join(
        f"  - {{scenario: tiny.yaml, name: {n}}}\n" for n in names)
    (tmp_path / "s.yaml").write_text(body)
    return {e.name: e for e in load_suite(tmp_path / "s.yaml").entries}


def outcome(name: str, *, fast: bool = True, error: str | None = None) -> RunOutcome:
    run = RunOutcome(run_id=f"run-{name}", scenario_name="tiny", scenario_file="tiny.yaml", seed=7, run_dir=f"/r/{name}", started_at=100.0, ended_at=110.0)
    run.verdicts = [
        Verdict(name="enough", check="requests >= 1", window="load", passed=True, measured=50, bound=1, op=">=", unit="count", message="enough met"),
        Verdict(name="fast", check="p(99) < 100ms", window="load", passed=fast, measured=50 if fast else 500, bound=100, op="<", unit="ms",
                message="fast met" if fast else "p(99) < 100ms violated: measured 500.0ms"),
    ]
    if error:
        run.fail("app_not_ready", error)
    return run


def regression(status: str) -> RegressionVerdict:
    return RegressionVerdict(metric="p99_ms", status=status, measured=50.0, baseline=10.0, baseline_runs=3, change_pct=400.0, limit="+50%", message=f"p99_ms {status}")


def test_suite_junit_counts_and_messages(tmp_path: Path, entries: dict[str, ResolvedEntry]) -> None:
    results = [
        EntryResult(entry=entries["steady"], status="passed", attempts=[outcome("s1")], reused_cluster=[True],
                    regressions=[regression("regressed"), regression("no_baseline")],
                    decision=Decision(True, ["regression: p99_ms regressed"])),
        EntryResult(entry=entries["flaky"], status="flaky", attempts=[outcome("f1", fast=False), outcome("f2")], reused_cluster=[True, True]),
        EntryResult(entry=entries["broken"], status="failed", attempts=[outcome("b1", fast=False), outcome("b2", fast=False)],
                    reused_cluster=[True, True], decision=Decision(True, ["failed on every attempt: fast"])),
        EntryResult(entry=entries["jailed"], status="failed", attempts=[outcome("j1", fast=False)], reused_cluster=[True],
                    decision=Decision(False, notes=["quarantined (slow proxy; owner serve)"]),
                    quarantine={"scenario": "jailed", "reason": "slow proxy", "owner": "serve"}),
        EntryResult(entry=entries["infra"], status="passed", attempts=[outcome("i1", error="never ready"), outcome("i2")],
                    reused_cluster=[False, True]),
        EntryResult(entry=entries["late"], status="skipped", skipped_reason="suite timeout of 60s elapsed"),
    ]
    write_junit(tmp_path / "junit.xml", [ts for r in results for ts in entry_suites(r, "nightly")])
    assert junit_problems(tmp_path / "junit.xml") == []
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = {s.name: s for s in xml}
    # One testsuite per scenario: earlier attempts live inside the final attempt's testcases.
    assert list(suites) == ["steady", "flaky", "broken", "jailed", "infra", "late"]
    counts = {name: (s.tests, s.failures, s.errors, s.skipped) for name, s in suites.items()}
    assert counts == {
        "steady": (4, 1, 0, 1),  # 2 SLOs + 2 regression checks
        "flaky": (2, 0, 0, 0),   # the failure a rerun superseded is a flakyFailure, not a failure
        "broken": (2, 1, 0, 0),  # a consistent failure stays a failure
        "jailed": (2, 1, 0, 0),
        "infra": (3, 0, 0, 0),   # the superseded infrastructure error is a flakyError
        "late": (1, 0, 0, 1),
    }
    assert [xml._elem.get(k) for k in ("tests", "failures", "errors", "skipped")] == ["14", "3", "0", "2"]
    flaky_case = next(c for c in suites["flaky"] if c.name == "fast")
    assert flaky_case.classname == "nightly.flaky" and flaky_case.is_passed and flaky_case.is_flaky
    [flake] = flaky_case.flaky_failures()
    assert isinstance(flake, FlakyFailure) and flake.type == "SLOFailure"
    assert flake.message.startswith("attempt 1/2: p(99) < 100ms violated: measured 500.0ms")
    assert "reproduce: harness reproduce /r/f1" in flake.system_out
    assert flaky_case._elem.get("file") == "tiny.yaml"
    broken = next(c for c in suites["broken"] if c.name == "fast")
    assert broken.is_failure and [r.message.split(":")[0] for r in broken.rerun_failures()] == ["attempt 1/2"]
    jailed = next(c for c in suites["jailed"] if c.name == "fast")
    assert jailed.result[0].message.startswith("[non-blocking: quarantined (slow proxy; owner serve)]")
    infra = next(c for c in suites["infra"] if c.name == "infrastructure")
    assert infra.is_passed and infra.flaky_errors()[0].message == "attempt 1/2: app_not_ready: never ready"
    regressed = next(c for c in suites["steady"] if c.name == "regression p99_ms")
    assert regressed.is_failure and regressed.result[0].type == "Regression"
    props = {p.name: p.value for p in suites["flaky"].properties()}
    assert props["flaky"] == "true" and props["attempt"] == "2/2" and props["blocking"] == "false"
    assert props["attempt1.reproduce"] == "harness reproduce /r/f1"
    assert {p.name: p.value for p in suites["jailed"].properties()}["quarantine"] == "slow proxy (owner serve)"


def test_a_flaky_slo_shows_where_gitlab_and_jenkins_look(tmp_path: Path, entries: dict[str, ResolvedEntry]) -> None:
    """GitLab and Jenkins' core plugin read system-out, not flakyFailure nor properties: the
    passing testcase says it was flaky there; properties and the step summary say it too;
    the testsuite's time is both attempts' wall time."""
    from harness.gate.suite_report import _entry_summary
    from harness.report.markdown import suite_markdown

    result = EntryResult(entry=entries["flaky"], status="flaky", attempts=[outcome("f1", fast=False), outcome("f2")], reused_cluster=[True, True])
    write_junit(tmp_path / "junit.xml", entry_suites(result, "nightly"))
    [suite] = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    case = next(c for c in suite if c.name == "fast")
    assert case.is_passed
    assert case.system_out.startswith(
        "flaky: attempt 1/2 failed: p(99) < 100ms violated: measured 500.0ms; passed on attempt 2/2")
    steady = next(c for c in suite if c.name == "enough")
    assert "flaky" not in (steady.system_out or "")
    props = {p.name: p.value for p in suite.properties()}
    assert props["flaky.fast"].startswith("attempt 1/2: p(99) < 100ms violated")
    assert suite.time == 20.0  # two 10 s attempts, not the sum of SLO windows
    summary = {"suite": "nightly", "verdict": "ship", "exit_code": 0, "scenarios": [_entry_summary(result)]}
    text = suite_markdown(summary)
    assert "Flaky (failed, then passed on a rerun; does not block)" in text
    assert ("- **flaky**: attempt 1/2 failed (fast), passed on attempt 2/2; "
            "reproduce that attempt: `harness reproduce /r/f1`") in text
