"""The suite's reports: one JUnit file (a testsuite per scenario run, a testcase per SLO
and per regression check), summary.json and the terminal table.

A rerun that passed supersedes the attempts before it: their failures and errors
are reported as skipped with a "flaky" (or "retried") message, so CI that counts
failures does not block on what the gate calls flaky, and the flake stays visible.
Earlier attempts get an `.attemptN` classname so CI systems that drop duplicate
test names (GitLab) keep every attempt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from junit_xml import TestCase, TestSuite
from rich.console import Console
from rich.table import Table

from harness.files import write_json_atomic
from harness.gate.regression import NO_BASELINE, NO_DATA, REGRESSED
from harness.gate.states import PASSED
from harness.gate.verdict import SKIPPED
from harness.outcome import EXIT_PASSED, EXIT_SLO_FAILED
from harness.report.junit import build_suite, write_junit
from harness.report.suite_html import write_suite_report
from harness.report.summary import versions

if TYPE_CHECKING:
    from harness.gate.session import EntryResult, SuiteSession

VERDICTS = {EXIT_PASSED: "ship", EXIT_SLO_FAILED: "blocked"}


def _supersede(case: TestCase, attempt: int, final: int) -> None:
    """A failure or error of an attempt that a later pass superseded becomes 'skipped'."""
    failed = [f for f in case.failures if f.get("message") or f.get("output")]
    errored = [e for e in case.errors if e.get("message") or e.get("output")]
    if not failed and not errored:
        return
    what = "flaky" if failed else "retried after an infrastructure error"
    message = (failed or errored)[0].get("message") or ""
    case.failures, case.errors = [], []
    case.add_skipped_info(f"{what}: failed on attempt {attempt}, passed on attempt {final}: {message}")


def _mark_non_blocking(case: TestCase, note: str) -> None:
    for failure in case.failures:
        failure["message"] = f"[non-blocking: {note}] {failure.get('message') or ''}"


def _regression_cases(result: EntryResult, classname: str, note: str | None) -> list[TestCase]:
    cases = []
    for verdict in result.regressions:
        case = TestCase(f"regression {verdict.metric}", classname=classname, stdout=verdict.message)
        if verdict.status == REGRESSED:
            message = verdict.message if note is None else f"[non-blocking: {note}] {verdict.message}"
            case.add_failure_info(message=message, output=verdict.message, failure_type="Regression")
        elif verdict.status in (NO_BASELINE, NO_DATA):
            case.add_skipped_info(verdict.message)
        cases.append(case)
    return cases


def _properties(result: EntryResult, attempt: int) -> dict[str, str]:
    props = {
        "scenario": result.name,
        "attempt": f"{attempt}/{len(result.attempts)}",
        "result": result.status,
        "flaky": str(result.status == "flaky").lower(),
        "blocking": str(result.decision.blocking).lower(),
        "stable": str(result.entry.entry.stable).lower(),
        "state": result.state,
        "flake_rate": f"{result.flake_rate:g}",
    }
    if attempt <= len(result.reused_cluster):
        props["reused_cluster"] = str(result.reused_cluster[attempt - 1]).lower()
    if result.quarantine:
        props["quarantine"] = f"{result.quarantine.get('reason', '')} (owner {result.quarantine.get('owner', '?')})"
    return props


def entry_suites(result: EntryResult, suite_name: str) -> list[TestSuite]:
    classname = f"{suite_name}.{result.name}"
    if result.status == SKIPPED:
        case = TestCase("scenario", classname=classname)
        case.add_skipped_info(f"not run: {result.skipped_reason}")
        return [TestSuite(result.name, [case], properties={"scenario": result.name, "result": SKIPPED})]
    total = len(result.attempts)
    note = "; ".join(result.decision.notes) or None
    suites = []
    for number, outcome in enumerate(result.attempts, 1):
        ts = build_suite(outcome)
        final = number == total
        ts.name = result.name if total == 1 else f"{result.name} [attempt {number}/{total}]"
        for case in ts.test_cases:
            case.classname = classname if final else f"{classname}.attempt{number}"
            if not final and result.attempts[-1].status == PASSED:
                _supersede(case, number, total)
            elif note is not None:
                _mark_non_blocking(case, note)
        if final:
            ts.test_cases.extend(_regression_cases(result, classname, note))
        ts.properties.update(_properties(result, number))
        suites.append(ts)
    return suites


def _entry_summary(result: EntryResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "scenario_file": result.entry.scenario_file,
        "overrides": result.entry.overrides,
        "status": result.status,
        "stable": result.entry.entry.stable,
        "quarantine": result.quarantine,
        "blocking": result.decision.blocking,
        "reasons": result.decision.reasons,
        "notes": result.decision.notes,
        "state": result.state,
        "flake_rate": result.flake_rate,
        "config_hash": result.config_hash,
        "skipped_reason": result.skipped_reason,
        "metrics": result.metrics,
        "regressions": [r.as_dict() for r in result.regressions],
        "attempts": [
            {
                "number": n,
                "run_id": a.run_id,
                "run_dir": a.run_dir,
                "status": a.status,
                "seed": a.seed,
                "reused_cluster": result.reused_cluster[n - 1] if n <= len(result.reused_cluster) else None,
                "error": None if a.error is None else {"kind": a.error_kind, "message": a.error},
                "failed_slos": [v.name for v in a.verdicts if not v.passed],
                "reproduce": a.reproduce_command,
            }
            for n, a in enumerate(result.attempts, 1)
        ],
    }


def build_summary(session: SuiteSession, code: int, killed: list[str]) -> dict[str, Any]:
    suite = session.suite
    return {
        "suite": suite.name,
        "suite_file": session.resolved.path,
        "run": session.run_name,
        "frequency": suite.frequency,
        "exit_code": code,
        "verdict": VERDICTS.get(code, "no verdict"),
        "blocking": [
            {"scenario": r.name, "reasons": r.decision.reasons}
            for r in session.results if r.decision.blocking
        ],
        "flaky": [r.name for r in session.results if r.status == "flaky"],
        "started_at": session.started_at,
        "ended_at": time.time(),
        "clusters_started_by_suite": session.pool.started,
        "shared_cluster_start_s": session.pool.start_seconds,
        "killed_after_shutdown": killed,
        "versions": versions(),
        "scenarios": [_entry_summary(r) for r in session.results],
    }


def write_reports(session: SuiteSession, summary: dict[str, Any]) -> None:
    suites = [ts for r in session.results for ts in entry_suites(r, session.suite.name)]
    write_junit(session.suite_dir / "junit.xml", suites)
    write_json_atomic(session.suite_dir / "summary.json", summary)
    run_dirs = [Path(a.run_dir) for r in session.results for a in r.attempts]
    try:
        write_suite_report(session.suite_dir, run_dirs, title=f"suite {session.suite.name}")
    except Exception as exc:  # a report problem must not hide the suite's verdict
        summary.setdefault("notes", []).append(f"suite report not written: {exc}")


_STYLE = {"passed": "green", "flaky": "yellow", "failed": "red", "error": "magenta", "skipped": "dim",
          "regressed": "red"}


def print_suite(console: Console, session: SuiteSession, code: int) -> None:
    table = Table(title=f"suite {session.suite.name} ({session.run_name})")
    for column in ("scenario", "result", "attempts", "state", "flake rate", "blocks", "why"):
        table.add_column(column)
    for r in session.results:
        style = _STYLE.get(r.status, "")
        why = "; ".join(r.decision.reasons + r.decision.notes) or (r.skipped_reason or "")
        table.add_row(r.name, f"[{style}]{r.status}[/]", str(len(r.attempts)), r.state or "-",
                      f"{r.flake_rate:.0%}", "[red]yes[/]" if r.decision.blocking else "no", why)
    console.print(table)
    verdict = VERDICTS.get(code, "no verdict (infrastructure error)")
    style = {EXIT_PASSED: "bold green", EXIT_SLO_FAILED: "bold red"}.get(code, "bold yellow")
    console.print(f"[{style}]{verdict.upper()}[/] exit {code}  results: {session.suite_dir}")
    for r in session.results:
        if r.decision.blocking:
            console.print(f"[red]blocking:[/] {r.name}: {'; '.join(r.decision.reasons)}")
            console.print(f"  reproduce: {r.attempts[-1].reproduce_command}")
