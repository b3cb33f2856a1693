"""`harness history`: each scenario's state over its last runs, flake rate and baselines."""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.gate.config import load_quarantine
from harness.gate.history import History
from harness.gate.states import StateRules, current_state, flake_rate
from harness.gate.suite_cmd import HISTORY_FILE, QUARANTINE_FILE
from harness.loader import ConfigError
from harness.outcome import EXIT_PASSED, EXIT_USAGE

GLYPHS = {"passed": "[green]P[/]", "failed": "[red]F[/]", "flaky": "[yellow]f[/]", "error": "[magenta]E[/]",
          "regressed": "[red]R[/]"}
STATE_STYLE = {"passing": "green", "failing": "red", "consistently_failing": "bold red",
               "flaky": "yellow", "quarantined": "cyan"}


def add_parser(sub: Any, results_default: Path) -> None:
    history = sub.add_parser("history", help="show each scenario's state, flake rate and baselines")
    history.add_argument("scenarios", nargs="*", help="only these scenarios")
    history.add_argument("--results", type=Path, default=results_default)
    history.add_argument("--history", type=Path, default=None,
                         help="history database (default: <results>/history.sqlite)")
    history.add_argument("--suite", default=None, help="only scenarios run by this suite")
    history.add_argument("--last", type=int, default=30, help="results per scenario (default: 30)")
    history.add_argument("--baseline-runs", type=int, default=5,
                         help="passing runs the baseline medians are taken over (default: 5)")
    history.add_argument("--quarantine", type=Path, default=QUARANTINE_FILE)


def _median(baseline: list[dict[str, float]], metric: str) -> float | None:
    values = [m[metric] for m in baseline if metric in m]
    return statistics.median(values) if values else None


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    if args.last < 1 or args.baseline_runs < 1:
        print("--last and --baseline-runs: expected a positive number", file=sys.stderr)
        return EXIT_USAGE
    path = args.history or args.results / HISTORY_FILE
    try:
        quarantine = load_quarantine(args.quarantine)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    if not path.exists():
        console.print(f"no history yet at {path} (a `harness suite` run records it)")
        return EXIT_PASSED
    try:
        history = History(path)
        names = args.scenarios or history.scenarios(args.suite)
        rows = [(name, history.results(name, args.last)) for name in names]
        # The baselines regression checks would use now: passing runs since the last accept.
        baselines = {name: history.baseline_metrics(name, results[-1].config_hash, args.baseline_runs)
                     for name, results in rows if results}
        accepts = {name: history.latest_accept(name) for name, _ in rows}
    except sqlite3.Error as exc:
        print(f"{path}: expected a harness history database ({exc})", file=sys.stderr)
        return EXIT_USAGE
    rules = StateRules(window=args.last)
    table = Table(title=f"history ({path}, last {args.last} results per scenario, oldest left)")
    for column in ("scenario", "state", "results", "runs", "flake rate", "p99 baseline",
                   "rps baseline", "last run", "quarantine"):
        table.add_column(column)
    for name, results in rows:
        if not results:
            table.add_row(name, "-", "no results", "0", "-", "-", "-", "-", "-")
            continue
        q = quarantine.find(name)
        statuses = [r.status for r in results]
        state = current_state(statuses, q is not None, rules).value
        table.add_row(
            name,
            f"[{STATE_STYLE.get(state, '')}]{state}[/]",
            "".join(GLYPHS.get(s, "?") for s in statuses),
            str(len(results)),
            f"{flake_rate(statuses, rules):.0%}",
            _fmt(_median(baselines[name], "p99_ms"), "ms"),
            _fmt(_median(baselines[name], "throughput_rps"), "/s"),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(results[-1].started_at)),
            f"{q.owner}: {q.reason}" if q else "",
        )
    console.print(table)
    console.print("P passed  f flaky (failed, passed on rerun)  F failed  R regressed (blocked by a "
                  "regression check; never a baseline)  E infrastructure error")
    for name, accept in accepts.items():
        if accept is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(accept.accepted_at))
            console.print(f"baseline of {name} accepted {when} by {accept.accepted_by} "
                          f"(run {accept.suite_run}): {accept.reason}", highlight=False)
    return EXIT_PASSED
