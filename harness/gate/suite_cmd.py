"""`harness suite NAME`: run a release suite and decide whether the release may ship.

Exit codes: 0 the release may ship; 1 blocked (the blocking scenarios and SLOs are
named); 2 invalid suite, scenario or quarantine file; 3 infrastructure error (a
blocking scenario has no verdict).
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.gate.history import History
from harness.gate.suite_config import find_suite_file, load_quarantine, load_suite
from harness.model.errors import ConfigError
from harness.model.outcome import EXIT_INFRA, EXIT_USAGE
from harness.report.markdown import publish, suite_markdown

SUITES_DIR = Path("configs/suites")
QUARANTINE_FILE = Path("configs/quarantine.yaml")
HISTORY_FILE = "history.sqlite"


def add_parser(sub: Any, results_default: Path) -> None:
    suite = sub.add_parser("suite", help="run a release suite (configs/suites/NAME.yaml)")
    suite.add_argument("name", help="suite name (configs/suites/NAME.yaml) or a suite file")
    suite.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                       help="run only this scenario of the suite (repeatable)")
    suite.add_argument("--results", type=Path, default=results_default,
                       help="results root (default: results/)")
    suite.add_argument("--history", type=Path, default=None,
                       help="history database (default: <results>/history.sqlite)")
    suite.add_argument("--no-history", action="store_true",
                       help="neither read baselines nor record this run")
    suite.add_argument("--quarantine", type=Path, default=QUARANTINE_FILE,
                       help="quarantine list (default: configs/quarantine.yaml)")
    suite.add_argument("--strict", action="store_true",
                       help="refuse keys of a Serve config file that Ray does not know (as the suite's strict: true)")
    suite.add_argument("--validate", action="store_true",
                       help="only check the suite and every scenario it names")
    suite.add_argument("--label", default="", metavar="TAG",
                       help="the release under test (e.g. a tag), recorded in history")
    suite.add_argument("--app-version", default=None,
                       help="the app's version for history (default: read from the installed package)")
    suite.add_argument("--json", action="store_true",
                       help="one JSON document on stdout (the suite's summary); human text on stderr")
    suite.add_argument("--pushgateway", default=None, metavar="URL",
                       help="push each scenario's final run to this Pushgateway (job harness, grouped by "
                            "scenario and --label)")
    suite.add_argument("--summary-md", type=Path, default=None, metavar="FILE",
                       help="write the verdict as Markdown (also appended to $GITHUB_STEP_SUMMARY when set)")


def push_finals(results: list[Any], gateway: str, console: Console) -> None:
    """Each scenario's final attempt to the Pushgateway; a failed push is said, never the verdict."""
    from harness.report.prometheus import push_run

    for result in results:
        if not result.attempts:
            continue
        run_dir = Path(result.attempts[-1].run_dir)
        try:
            push_run(run_dir, gateway)
        except Exception as exc:
            console.print(f"[yellow]could not push {run_dir.name} to {gateway}: {type(exc).__name__}: {exc}[/]",
                          highlight=False, soft_wrap=True)
    console.print(f"pushed to {gateway} (job harness)", highlight=False)


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def cmd_suite(args: argparse.Namespace, console: Console) -> int:
    try:
        resolved = load_suite(find_suite_file(args.name, SUITES_DIR), strict=args.strict)
        quarantine = load_quarantine(args.quarantine)
        if args.only:
            known = {e.name for e in resolved.entries}
            unknown = sorted(set(args.only) - known)
            if unknown:
                raise ConfigError([f"--only {', '.join(unknown)}: expected a scenario of suite "
                                   f"{resolved.suite.name!r} ({', '.join(sorted(known))})"])
            resolved.entries = [e for e in resolved.entries if e.name in args.only]
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        if args.json_out is not None:
            args.json_out.emit({"command": "suite", "status": "invalid", "exit_code": EXIT_USAGE,
                                "errors": exc.lines})
        return EXIT_USAGE
    if args.validate:
        console.print(f"{resolved.path}: ok ({resolved.suite.name}, {len(resolved.entries)} scenarios)")
        if args.json_out is not None:
            args.json_out.emit({"command": "suite", "status": "valid", "exit_code": 0,
                                "suite_file": resolved.path, "scenarios": [e.name for e in resolved.entries]})
        return 0
    from harness.gate.session import SuiteSession  # imports Ray: only once all is valid

    try:
        history = None if args.no_history else History(args.history or args.results / HISTORY_FILE)
        session = SuiteSession(resolved, args.results, history=history, quarantine=quarantine,
                               console=console, release=args.label, app_version=args.app_version)
    except (OSError, sqlite3.Error) as exc:
        print(f"{args.results}: expected a writable results directory and history ({exc})",
              file=sys.stderr)
        return EXIT_INFRA
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # between runs too
    try:
        for entry in resolved.entries:
            session.run_entry(entry)
    except KeyboardInterrupt as exc:
        session.stopped = f"interrupted ({exc or 'SIGINT'})"
    finally:
        signal.signal(signal.SIGTERM, previous)
        outcome = session.finish()
    if args.pushgateway:
        push_finals(session.results, args.pushgateway, console)
    if args.json_out is not None:
        args.json_out.emit({"command": "suite", "suite_dir": str(outcome.suite_dir),
                            "junit": str(outcome.suite_dir / "junit.xml"), **outcome.summary})
    try:
        for path in publish(suite_markdown(outcome.summary), args.summary_md):
            console.print(f"summary: {path}", highlight=False, soft_wrap=True)
    except OSError as exc:  # a summary that cannot be written must not change the verdict
        console.print(f"[yellow]could not write the Markdown summary: {exc}[/]")
    return outcome.exit_code
