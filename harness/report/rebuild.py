"""`harness report RUN`: rebuild report.html from stored results, nothing re-measured.

RUN is a run directory, a run id under the results root, or `latest`. A directory
that holds run directories (a suite's) gets a suite report linking to each run's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from harness.model.outcome import EXIT_PASSED, EXIT_USAGE
from harness.report.html import SUMMARY_FILE, ReportError, write_report
from harness.report.prometheus import write_run_metrics
from harness.report.suite_html import write_suite_report


def add_report_parser(sub: argparse._SubParsersAction, default_results: Path) -> None:
    report = sub.add_parser("report", help="rebuild a run's (or a suite's) report.html from its results")
    report.add_argument("run", help="run directory, run id under --results, or 'latest'")
    report.add_argument("--results", type=Path, default=default_results, help="results root (default: results/)")
    report.add_argument("--json", action="store_true",
                        help="one JSON document on stdout; the human text goes to stderr")


def resolve_run(run: str, results_root: Path) -> Path:
    for candidate in (Path(run), results_root / run):
        if candidate.is_dir():
            return candidate.resolve()
    raise ReportError(f"{run}: expected a run directory, or a run id under {results_root}/")


def suite_runs(folder: Path) -> list[Path]:
    """Run directories directly inside a suite folder, oldest first by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / SUMMARY_FILE).is_file())


def rebuild(run: str, results_root: Path) -> Path:
    folder = resolve_run(run, results_root)
    runs = suite_runs(folder)  # a suite folder holds runs (and maybe its own summary.json)
    if runs:
        return write_suite_report(folder, runs)
    if (folder / SUMMARY_FILE).is_file():
        write_run_metrics(folder)  # openmetrics.prom too: a run from before it existed gets one
        return write_report(folder)
    raise ReportError(f"{folder}: expected {SUMMARY_FILE} (a run) or run directories inside it (a suite)")


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    try:
        path = rebuild(args.run, args.results)
    except ReportError as exc:
        print(str(exc), file=sys.stderr)
        if args.json_out is not None:
            args.json_out.emit({"command": "report", "exit_code": EXIT_USAGE, "errors": [str(exc)]})
        return EXIT_USAGE
    console.print(f"report: {path}", markup=False, highlight=False, soft_wrap=True)
    if args.json_out is not None:
        args.json_out.emit({"command": "report", "exit_code": EXIT_PASSED, "report": str(path)})
    return EXIT_PASSED
