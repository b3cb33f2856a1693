"""The suite's reports: one JUnit file (a testsuite per scenario run, a testcase per SLO
and per regression check), summary.json and the terminal table.

Retries follow Maven Surefire's convention, which Jenkins and GitLab read: one testcase
per SLO, from the final attempt; an earlier attempt's failure sits inside it as
`flakyFailure` (or `flakyError`) when the rerun passed, so CI that counts failures does
not block on what the gate calls flaky and the flake stays visible, and as
`rerunFailure` (`rerunError`) when every attempt failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from junitparser import Error, Failure, Skipped
from junitparser.xunit2 import (
    FlakyError,
    FlakyFailure,
    InterimResult,
    RerunError,
    RerunFailure,
    TestCase,
    TestSuite,
)
from rich.console import Console
from rich.table import Table

from harness.files import write_json_atomic
from harness.gate.entry_result import EntryResult
from harness.gate.regression import NO_BASELINE, NO_DATA, REGRESSED
from harness.gate.states import PASSED
from harness.gate.verdict import SKIPPED
from harness.model.outcome import EXIT_PASSED, EXIT_SLO_FAILED, RunOutcome
from harness.report.junit import build_suite, new_case, run_context, set_wall_time, write_junit
from harness.report.suite_html import write_suite_report
from harness.report.summary import versions
from harness.report.terminal import ci_table


class SuiteView(Protocol):
    """What the reports read of a suite run (harness.gate.session.SuiteSession)."""

    suite: Any  # the suite's config (harness.gate.suite_config.SuiteConfig)
    resolved: Any  # its entries resolved (harness.gate.suite_config.ResolvedSuite)
    run_name: str
    results: list[EntryResult]
    started_at: float
    pool: Any  # the shared clusters (harness.cluster.pool.ClusterPool)
    release: str | None
    suite_dir: Path


VERDICTS = {EXIT_PASSED: "ship", EXIT_SLO_FAILED: "blocked"}


def _interim(kind: type[InterimResult], result: Failure | Error, attempt: int, total: int,
             outcome: RunOutcome) -> InterimResult:
    """An earlier attempt's failure or error, kept inside the final testcase (Surefire)."""
    interim = kind(f"attempt {attempt}/{total}: {result.message or ''}", result.type)
    interim.system_out = run_context(outcome)
    if result.text:
        interim.stack_trace = result.text
    return interim


def _fold_attempts(final: TestSuite, earlier: list[tuple[int, TestSuite, RunOutcome]],
                   total: int, passed: bool, scenario_file: str) -> dict[str, str]:
    """Earlier attempts' failures and errors go inside the final attempt's testcases:
    `flakyFailure`/`flakyError` when the final attempt passed, `rerunFailure`/`rerunError`
    when it did not (Maven Surefire's convention). GitLab and Jenkins' core JUnit plugin
    read neither, so a flaky testcase also says so in its system-out, the part they show;
    returns testcase name -> that line, for the testsuite's properties."""
    flaky: dict[str, str] = {}
    cases = {case.name: case for case in final}
    classname = next(iter(cases.values())).classname if cases else None
    for number, suite, outcome in earlier:
        for old in suite:
            results = [r for r in old.result if isinstance(r, (Failure, Error))]
            if not results:
                continue
            case = cases.get(old.name)
            if case is None:  # e.g. the infrastructure case of an attempt that errored
                case = new_case(old.name, classname or old.classname, scenario_file)
                final.add_testcase(case)
                cases[old.name] = case
            for result in results:
                failure = isinstance(result, Failure)
                if passed:
                    kind: type[InterimResult] = FlakyFailure if failure else FlakyError
                else:
                    kind = RerunFailure if failure else RerunError
                case.add_interim_result(_interim(kind, result, number, total, outcome))
                if passed:
                    why = (result.message or "").split(". Reproduce: ")[0]
                    line = (f"flaky: attempt {number}/{total} {'failed' if failure else 'errored'}: "
                            f"{why}; passed on attempt {total}/{total} "
                            f"(that attempt: {outcome.reproduce_command})")
                    case.system_out = f"{line}\n{case.system_out or ''}"
                    flaky.setdefault(case.name, f"attempt {number}/{total}: {why}")
    return flaky


def _mark_non_blocking(case: TestCase, note: str) -> None:
    for result in case.result:
        if isinstance(result, Failure):
            result.message = f"[non-blocking: {note}] {result.message or ''}"


def _regression_cases(result: EntryResult, classname: str, note: str | None) -> list[TestCase]:
    cases = []
    for verdict in result.regressions:
        case = new_case(f"regression {verdict.metric}", classname, result.entry.scenario_file)
        case.system_out = verdict.message
        if verdict.status == REGRESSED:
            message = verdict.message if note is None else f"[non-blocking: {note}] {verdict.message}"
            failure = Failure(message, "Regression")
            failure.text = verdict.message
            case.result = [failure]
        elif verdict.status in (NO_BASELINE, NO_DATA):
            case.result = [Skipped(verdict.message)]
        cases.append(case)
    return cases


def _properties(result: EntryResult) -> dict[str, str]:
    total = len(result.attempts)
    props = {
        "scenario": result.name,
        "attempt": f"{total}/{total}",
        "result": result.status,
        "flaky": str(result.status == "flaky").lower(),
        "blocking": str(result.decision.blocking).lower(),
        "stable": str(result.entry.entry.stable).lower(),
        "state": result.state,
        "flake_rate": f"{result.flake_rate:g}",
    }
    if result.reused_cluster:
        props["reused_cluster"] = str(result.reused_cluster[-1]).lower()
    if result.quarantine:
        props["quarantine"] = f"{result.quarantine.get('reason', '')} (owner {result.quarantine.get('owner', '?')})"
    for number, outcome in enumerate(result.attempts[:-1], 1):
        props[f"attempt{number}.reproduce"] = outcome.reproduce_command
    return props


def entry_suites(result: EntryResult, suite_name: str) -> list[TestSuite]:
    """One testsuite per scenario: the final attempt's testcases (SLOs, regression checks),
    earlier attempts folded into them as flaky or rerun results."""
    classname = f"{suite_name}.{result.name}"
    if result.status == SKIPPED:
        case = new_case("scenario", classname, result.entry.scenario_file)
        case.result = [Skipped(f"not run: {result.skipped_reason}")]
        suite = TestSuite(result.name)
        suite.add_testcase(case)
        suite.add_property("scenario", result.name)
        suite.add_property("result", SKIPPED)
        return [suite]
    total = len(result.attempts)
    note = "; ".join(result.decision.notes) or None
    built = [build_suite(outcome) for outcome in result.attempts]
    final = built[-1]
    final.name = result.name
    for case in final:
        case.classname = classname
        if note is not None:
            _mark_non_blocking(case, note)
    earlier = [(n, s, o) for n, (s, o) in enumerate(zip(built[:-1], result.attempts[:-1], strict=True), 1)]
    flaky = _fold_attempts(final, earlier, total, result.attempts[-1].status == PASSED,
                           result.entry.scenario_file)
    for case in _regression_cases(result, classname, note):
        final.add_testcase(case)
    for key, value in _properties(result).items():
        final.add_property(key, value)
    for name, line in flaky.items():
        final.add_property(f"flaky.{name}", line)
    set_wall_time(final, sum(o.ended_at - o.started_at for o in result.attempts))  # every attempt's
    return [final]


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
        # issue 22: the measured flake probability, the reruns' SPRT, pooled request SLOs
        "flake_probability": result.flake_probability,
        "sequential": None if result.sequential is None else {
            "state": result.sequential.state, "runs": result.sequential.runs,
            "failures": result.sequential.failures, "reason": result.sequential.reason},
        "pooled": [{"name": v.name, "outcome": v.outcome, "passed": v.passed, "measured": v.measured,
                    "interval": v.interval, "attempts": v.inputs.get("pooled_attempts"),
                    "message": v.message} for v in result.pooled],
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


def build_summary(session: SuiteView, code: int, killed: list[str]) -> dict[str, Any]:
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
        "shared_cluster_failures": session.pool.start_failures,
        "killed_after_shutdown": killed,
        "versions": versions(),
        "label": session.release,
        "scenarios": [_entry_summary(r) for r in session.results],
    }


def write_reports(session: SuiteView, summary: dict[str, Any]) -> None:
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


def suite_table(session: SuiteView) -> Table:
    """Short cells only, so it reads at 80 columns; the reasons go below it."""
    table = ci_table(f"suite {session.suite.name} ({session.run_name})")
    table.add_column("scenario", overflow="fold")
    for column in ("result", "tries", "state", "flaky", "blocks"):
        table.add_column(column, no_wrap=True)
    for r in session.results:
        style = _STYLE.get(r.status, "")
        table.add_row(r.name, f"[{style}]{r.status}[/]", str(len(r.attempts)), r.state or "-",
                      f"{r.flake_rate:.0%}", "[red]yes[/]" if r.decision.blocking else "no")
    return table


def why_lines(session: SuiteView) -> list[str]:
    """Why each scenario blocks, does not block though it could, or was not run."""
    lines = []
    for r in session.results:
        if r.decision.blocking:
            lines.append(f"[red]blocking:[/] {r.name}: {'; '.join(r.decision.reasons)}")
            lines.append(f"  reproduce: {r.attempts[-1].reproduce_command}")
        elif r.decision.notes or r.skipped_reason:
            lines.append(f"[yellow]not blocking:[/] {r.name}: {'; '.join(r.decision.notes) or r.skipped_reason}")
        # issue 22: what the reruns could not decide (reported, never blocking)
        for verdict in [*r.regressions, *r.pooled]:
            if verdict.inconclusive:
                lines.append(f"[yellow]inconclusive:[/] {r.name}: {verdict.message}")
    return lines


def print_suite(console: Console, session: SuiteView, code: int) -> None:
    console.print(suite_table(session))
    for line in why_lines(session):
        console.print(line, soft_wrap=True, highlight=False)
    verdict = VERDICTS.get(code, "no verdict (infrastructure error)")
    style = {EXIT_PASSED: "bold green", EXIT_SLO_FAILED: "bold red"}.get(code, "bold yellow")
    console.print(f"[{style}]{verdict.upper()}[/] exit {code}  results: {session.suite_dir}",
                  soft_wrap=True, highlight=False)
