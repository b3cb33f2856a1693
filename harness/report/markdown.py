"""The verdict as Markdown for a CI job's page (`--summary-md FILE`, and GitHub's
`$GITHUB_STEP_SUMMARY` when it is set): a table, the why-lines, the reproduce command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.files import write_atomic
from harness.model.outcome import RunOutcome, format_value

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_ICON = {"passed": "✅", "failed": "❌", "error": "⚠️", "flaky": "🟡", "skipped": "⏭️", "regressed": "❌",
         "ship": "✅", "blocked": "❌", "no verdict": "⚠️"}


def cell(text: Any) -> str:
    """A value safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def run_markdown(outcome: RunOutcome) -> str:
    lines = [f"### {_ICON[outcome.status]} {outcome.scenario_name}: {outcome.status} "
             f"(exit {outcome.exit_code})", "",
             f"Scenario `{outcome.scenario_file}`, seed {outcome.seed}, run `{outcome.run_id}`.", "",
             "| SLO | window | measured | interval | bound | result |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for v in outcome.verdicts:
        result = v.result_text().replace("PASS", "pass", 1).replace("FAIL", "**FAIL**", 1)
        lines.append(f"| {cell(v.name)} | {cell(v.window)} | {cell(format_value(v.measured, v.unit))} | "
                     f"{cell(v.interval_text())} | {cell(v.op)} {cell(format_value(v.bound, v.unit))} | "
                     f"{cell(result)} |")
    why = [f"- **{v.name}**: {v.message}" for v in outcome.verdicts if not v.passed]
    if outcome.error:
        why.insert(0, f"- **infrastructure error** ({outcome.error_kind}): {outcome.error} "
                      "(no verdict on the release)")
    if why:
        lines += ["", "Why:", "", *why]
    if outcome.status != "passed":
        lines += ["", "Reproduce:", "", "```", outcome.reproduce_command, "```"]
    return "\n".join(lines) + "\n"


def suite_markdown(summary: dict[str, Any]) -> str:
    """From a suite's summary.json document."""
    verdict = summary["verdict"]
    lines = [f"### {_ICON.get(verdict, '')} suite {summary['suite']}: {verdict} "
             f"(exit {summary['exit_code']})", "",
             "| scenario | result | attempts | state | blocks |", "| --- | --- | ---: | --- | --- |"]
    for s in summary["scenarios"]:
        lines.append(f"| {cell(s['name'])} | {_ICON.get(s['status'], '')} {cell(s['status'])} | "
                     f"{len(s['attempts'])} | {cell(s['state'] or '-')} | "
                     f"{'**yes**' if s['blocking'] else 'no'} |")
    why, reproduce = [], []
    for s in summary["scenarios"]:
        if s["blocking"]:
            why.append(f"- **{s['name']}** blocks: {'; '.join(s['reasons'])}")
            reproduce.append(s["attempts"][-1]["reproduce"])
        elif s["notes"] or s["skipped_reason"]:
            why.append(f"- {s['name']} does not block: {'; '.join(s['notes']) or s['skipped_reason']}")
    if why:
        lines += ["", "Why:", "", *why]
    flaky = flaky_lines(summary)
    if flaky:
        lines += ["", f"{_ICON['flaky']} Flaky (failed, then passed on a rerun; does not block):", "", *flaky]
    if reproduce:
        lines += ["", "Reproduce:", "", "```", *reproduce, "```"]
    return "\n".join(lines) + "\n"


def flaky_lines(summary: dict[str, Any]) -> list[str]:
    """Each flaky scenario: which attempt failed, its failed SLOs or error, its reproduce command."""
    lines = []
    for s in summary["scenarios"]:
        if s.get("status") != "flaky":
            continue
        attempts = s.get("attempts") or []
        total = len(attempts)
        for number, a in enumerate(attempts[:-1], 1):
            status = a.get("status", "failed")
            if status == "passed":
                continue
            what = ", ".join(a.get("failed_slos") or []) or (a.get("error") or {}).get("kind") or status
            lines.append(f"- **{cell(s['name'])}**: attempt {number}/{total} {status} "
                         f"({cell(what)}), passed on attempt {total}/{total}; "
                         f"reproduce that attempt: `{a.get('reproduce', '')}`")
    return lines


def publish(markdown: str, path: Path | None) -> list[Path]:
    """Write to `path` (when given) and append to $GITHUB_STEP_SUMMARY (when set)."""
    written = []
    if path is not None:
        write_atomic(path, markdown)
        written.append(path)
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:  # GitHub's file: append, never replace
            handle.write(markdown + "\n")
        written.append(Path(step_summary))
    return written
