"""A suite's report.html: one row per scenario run, linking to each run's own report.

Reads each run's summary.json and, when the suite runner left one, the suite's own
summary.json (harness.gate: verdict, blocking scenarios, attempts per scenario), so
a flaky scenario retried into a pass reads as flaky, not as failed.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from harness import __version__
from harness.files import write_atomic
from harness.report.html import (
    REPORT_FILE,
    SUMMARY_FILE,
    ReportError,
    load_summary,
    page,
    write_report,
)

EXIT_STATUS = {0: "passed", 1: "failed"}


def _suite_summary(suite_dir: Path) -> dict[str, Any]:
    """The suite runner's summary.json, or {} when there is none (or it is not a suite's)."""
    try:
        summary = json.loads((suite_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) and isinstance(summary.get("scenarios"), list) else {}


def _attempts(suite: dict[str, Any]) -> dict[str, str]:
    """run id -> what the suite made of that attempt: `attempt 2 of 2, flaky`."""
    out = {}
    for entry in suite.get("scenarios") or []:
        attempts = entry.get("attempts") or []
        for attempt in attempts:
            note = f"attempt {attempt.get('number', '?')} of {len(attempts)}, {entry.get('status', '?')}"
            if entry.get("blocking"):
                note += ", blocks the release"
            out[str(attempt.get("run_id"))] = note
    return out


def write_suite_report(suite_dir: Path, run_dirs: list[Path], title: str | None = None) -> Path:
    """Write suite_dir/report.html and return its path.

    A run whose report.html is missing gets one built first; a run whose results cannot
    be read still gets a row saying so, so the suite page always lists every run.
    """
    suite_dir.mkdir(parents=True, exist_ok=True)
    suite = _suite_summary(suite_dir)
    notes = _attempts(suite)
    counts = {"passed": 0, "failed": 0, "error": 0, "unknown": 0}
    rows = [_row(suite_dir, Path(run_dir), counts, notes) for run_dir in run_dirs]
    heading = title or (f"suite {suite['suite']}" if suite.get("suite") else f"suite {suite_dir.name}")
    if isinstance(suite.get("exit_code"), int):
        overall = EXIT_STATUS.get(suite["exit_code"], "error")
    else:
        overall = "error" if counts["error"] or counts["unknown"] else ("failed" if counts["failed"] else "passed")
    tally = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    body = (
        f'<h1>{escape(heading)}<span class="badge {overall}">{overall.upper()}</span></h1>'
        f'<div class="sub">{len(run_dirs)} scenario runs: {escape(tally or "none")}</div>'
        + _verdict(suite)
        + "<h2>Scenario runs</h2><table><thead><tr><th>scenario</th><th>status</th><th>SLOs passed</th>"
        "<th>failed SLOs</th><th>in the suite</th><th>seed</th><th>report</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + f"<footer>Written by harness {escape(__version__)}.</footer>"
    )
    path = suite_dir / REPORT_FILE
    write_atomic(path, page(heading, body))
    return path


def _verdict(suite: dict[str, Any]) -> str:
    if not suite:
        return ""
    lines = [f"<p><b>{escape(str(suite.get('verdict', '')))}</b> (exit {escape(str(suite.get('exit_code')))})</p>"]
    for block in suite.get("blocking") or []:
        reasons = "; ".join(str(r) for r in block.get("reasons") or [])
        lines.append(f'<div class="errorbox">blocking: <b>{escape(str(block.get("scenario")))}</b>: '
                     f"{escape(reasons)}</div>")
    if suite.get("flaky"):
        lines.append(f'<div class="sub">flaky: {escape(", ".join(map(str, suite["flaky"])))}</div>')
    return "".join(lines)


def _row(suite_dir: Path, run_dir: Path, counts: dict[str, int], notes: dict[str, str]) -> str:
    try:
        summary = load_summary(run_dir)
        if not (run_dir / REPORT_FILE).exists():
            write_report(run_dir)
    except (ReportError, OSError) as exc:
        counts["unknown"] += 1
        return (
            f'<tr><td>{escape(run_dir.name)}</td><td class="fail">unreadable</td>'
            f'<td colspan="5" class="msg">{escape(str(exc))}</td></tr>'
        )
    status = str(summary.get("status", "unknown"))
    counts[status if status in counts else "unknown"] += 1
    verdicts = summary.get("verdicts") or []
    passed = sum(1 for v in verdicts if v.get("passed"))
    failed = ", ".join(str(v.get("name")) for v in verdicts if not v.get("passed"))
    run_id = str(summary.get("run_id", run_dir.name))
    link = os.path.relpath(run_dir / REPORT_FILE, suite_dir)
    css = {"passed": "pass", "failed": "fail", "error": "fail"}.get(status, "")
    return (
        f"<tr><td>{escape(str(summary.get('scenario', run_dir.name)))}</td>"
        f'<td class="{css}">{escape(status.upper())}</td>'
        f'<td class="num">{passed}/{len(verdicts)}</td><td class="msg">{escape(failed)}</td>'
        f'<td class="msg">{escape(notes.get(run_id, ""))}</td>'
        f"<td>{escape(str(summary.get('seed', '')))}</td>"
        f'<td><a href="{escape(link)}">{escape(run_id)}</a></td></tr>'
    )
