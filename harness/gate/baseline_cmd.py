"""`harness baseline accept SCENARIO --reason "..."`: a person moves a baseline.

A run blocked by a regression check is recorded as `regressed` and never enters the
baseline, so a slower build stays blocked however often it runs. When the new numbers
are intended (a feature that costs latency, a bigger model), a person accepts them:
the scenario's latest judged run (or the one of `--run SUITE_RUN`) becomes the start
of its baseline, with the reason and who accepted it recorded in history.
"""

from __future__ import annotations

import argparse
import getpass
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.gate.history import History
from harness.gate.suite_cmd import HISTORY_FILE
from harness.model.outcome import EXIT_PASSED, EXIT_USAGE


def add_parser(sub: Any, results_default: Path) -> None:
    baseline = sub.add_parser("baseline", help="accept a scenario's latest numbers as its new baseline")
    actions = baseline.add_subparsers(dest="action", required=True, parser_class=type(baseline))
    accept = actions.add_parser("accept", help="the scenario's latest run becomes the start of its baseline")
    accept.add_argument("scenario", help="scenario name as the suite records it")
    accept.add_argument("--reason", required=True, help="why the new numbers are right (recorded in history)")
    accept.add_argument("--run", dest="suite_run", default=None,
                        help="accept the run of this suite run (default: the latest judged run)")
    accept.add_argument("--by", default=None, help="who accepts (default: the current user)")
    accept.add_argument("--results", type=Path, default=results_default, help="results root (default: results/)")
    accept.add_argument("--json", action="store_true",
                        help="one JSON document on stdout; the human text goes to stderr")
    accept.add_argument("--history", type=Path, default=None,
                        help="history database (default: <results>/history.sqlite)")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return "unknown"


def cmd_baseline(args: argparse.Namespace, console: Console) -> int:
    reason = " ".join(args.reason.split())
    if len(reason) < 3:
        print("--reason: expected a few words on why the new numbers are right", file=sys.stderr)
        return EXIT_USAGE
    path = args.history or args.results / HISTORY_FILE
    if not path.exists():
        print(f"{path}: expected a history database (a `harness suite` run records it)", file=sys.stderr)
        return EXIT_USAGE
    try:
        accept = History(path).accept_baseline(args.scenario, reason, args.by or _user(), args.suite_run)
    except LookupError as exc:
        print(f"{path}: {args.scenario}: expected {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as exc:
        print(f"{path}: expected a harness history database ({exc})", file=sys.stderr)
        return EXIT_USAGE
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(accept.accepted_at))
    console.print(f"baseline of {accept.scenario} accepted {when} by {accept.accepted_by}: from run "
                  f"{accept.suite_run} on, regression checks compare with its numbers ({reason})",
                  highlight=False)
    if args.json_out is not None:
        args.json_out.emit({"command": "baseline accept", "scenario": accept.scenario,
                            "suite_run": accept.suite_run, "accepted_by": accept.accepted_by,
                            "accepted_at": accept.accepted_at, "reason": reason, "exit_code": EXIT_PASSED})
    return EXIT_PASSED
