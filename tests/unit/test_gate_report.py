"""The suite's JUnit, read back with junitparser: flaky attempts, non-blocking failures,
regressions, retried infrastructure errors and skipped scenarios (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.gate.config import ResolvedEntry, load_suite
from harness.gate.regression import RegressionVerdict
from harness.gate.report import entry_suites
from harness.gate.session import EntryResult
from harness.gate.verdict import Decision
from harness.outcome import RunOutcome
from harness.report.junit import write_junit
from harness.slo import Verdict

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
    run = RunOutcome(f"run-{name}", "tiny", "tiny.yaml", 7, f"/r/{name}", 100.0, 110.0)
    run.verdicts = [
        Verdict("enough", "requests >= 1", "load", True, 50, 1, ">=", "count", "enough met"),
        Verdict("fast", "p(99) < 100ms", "load", fast, 50 if fast else 500, 100, "<", "ms",
                "fast met" if fast else "p(99) < 100ms violated: measured 500.0ms"),
    ]
    if error:
        run.fail("app_not_ready", error)
    return run


def regression(status: str) -> RegressionVerdict:
    return RegressionVerdict("p99_ms", status, 50.0, 10.0, 3, 400.0, "+50%", f"p99_ms {status}")


def test_suite_junit_counts_and_messages(tmp_path: Path, entries: dict[str, ResolvedEntry]) -> None:
    results = [
        EntryResult(entries["steady"], "passed", [outcome("s1")], [True],
                    regressions=[regression("regressed"), regression("no_baseline")],
                    decision=Decision(True, ["regression: p99_ms regressed"])),
        EntryResult(entries["flaky"], "flaky", [outcome("f1", fast=False), outcome("f2")], [True, True]),
        EntryResult(entries["broken"], "failed", [outcome("b1", fast=False), outcome("b2", fast=False)],
                    [True, True], decision=Decision(True, ["failed on every attempt: fast"])),
        EntryResult(entries["jailed"], "failed", [outcome("j1", fast=False)], [True],
                    decision=Decision(False, notes=["quarantined (slow proxy; owner serve)"]),
                    quarantine={"scenario": "jailed", "reason": "slow proxy", "owner": "serve"}),
        EntryResult(entries["infra"], "passed", [outcome("i1", error="never ready"), outcome("i2")],
                    [False, True]),
        EntryResult(entries["late"], "skipped", skipped_reason="suite timeout of 60s elapsed"),
    ]
    write_junit(tmp_path / "junit.xml", [ts for r in results for ts in entry_suites(r, "nightly")])
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = {s.name: s for s in xml}
    assert list(suites) == [
        "steady", "flaky [attempt 1/2]", "flaky [attempt 2/2]", "broken [attempt 1/2]",
        "broken [attempt 2/2]", "jailed", "infra [attempt 1/2]", "infra [attempt 2/2]", "late",
    ]
    counts = {name: (s.tests, s.failures, s.errors, s.skipped) for name, s in suites.items()}
    assert counts == {
        "steady": (4, 1, 0, 1),              # 2 SLOs + 2 regression checks
        "flaky [attempt 1/2]": (2, 0, 0, 1),  # the superseded failure is reported as skipped
        "flaky [attempt 2/2]": (2, 0, 0, 0),
        "broken [attempt 1/2]": (2, 1, 0, 0),  # a consistent failure stays a failure
        "broken [attempt 2/2]": (2, 1, 0, 0),
        "jailed": (2, 1, 0, 0),
        "infra [attempt 1/2]": (3, 0, 0, 1),   # the infrastructure error, superseded
        "infra [attempt 2/2]": (2, 0, 0, 0),
        "late": (1, 0, 0, 1),
    }
    flaky_case = next(c for c in suites["flaky [attempt 1/2]"] if c.name == "fast")
    assert flaky_case.classname == "nightly.flaky.attempt1"
    assert flaky_case.result[0].message.startswith(
        "flaky: failed on attempt 1, passed on attempt 2: p(99) < 100ms violated")
    final_case = next(c for c in suites["flaky [attempt 2/2]"] if c.name == "fast")
    assert final_case.classname == "nightly.flaky" and final_case.is_passed
    jailed = next(c for c in suites["jailed"] if c.name == "fast")
    assert jailed.result[0].message.startswith("[non-blocking: quarantined (slow proxy; owner serve)]")
    infra = next(c for c in suites["infra [attempt 1/2]"] if c.name == "infrastructure")
    assert infra.result[0].message.startswith("retried after an infrastructure error")
    regressed = next(c for c in suites["steady"] if c.name == "regression p99_ms")
    assert regressed.is_failure and regressed.result[0].type == "Regression"
    props = {p.name: p.value for p in suites["flaky [attempt 2/2]"].properties()}
    assert props["flaky"] == "true" and props["attempt"] == "2/2" and props["blocking"] == "false"
    assert {p.name: p.value for p in suites["jailed"].properties()}["quarantine"] == "slow proxy (owner serve)"
