"""`harness history`: each scenario's state over its last runs, flake rate and baselines."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.gate.changes import change_points
from harness.gate.history import History, StoredResult, flake_evidence
from harness.gate.regression import baseline_of
from harness.gate.sequential import SequentialRule, flake_probability
from harness.gate.states import StateRules, current_state, flake_rate
from harness.gate.suite_cmd import HISTORY_FILE, QUARANTINE_FILE
from harness.gate.suite_config import KEY_METRICS, QuarantineList, load_quarantine
from harness.model.errors import ConfigError
from harness.model.outcome import EXIT_PASSED, EXIT_USAGE
from harness.report.terminal import ci_table

GLYPHS = {"passed": "[green]P[/]", "failed": "[red]F[/]", "flaky": "[yellow]f[/]", "error": "[magenta]E[/]",
          "regressed": "[red]R[/]"}
STATE_STYLE = {"passing": "green", "failing": "red", "consistently_failing": "bold red",
               "flaky": "yellow", "quarantined": "cyan"}


def add_parser(sub: Any, results_default: Path) -> None:
    history = sub.add_parser("history", help="show each scenario's state, flake rate and baselines")
    history.add_argument("scenarios", nargs="*", help="only these scenarios")
    history.add_argument("--results", type=Path, default=results_default, help="results root (default: results/)")
    history.add_argument("--history", type=Path, default=None,
                         help="history database (default: <results>/history.sqlite)")
    history.add_argument("--suite", default=None, help="only scenarios run by this suite")
    history.add_argument("--last", type=int, default=30, help="results per scenario (default: 30)")
    history.add_argument("--baseline-runs", type=int, default=5,
                         help="passing runs the baseline medians are taken over (default: 5)")
    history.add_argument("--quarantine", type=Path, default=QUARANTINE_FILE,
                         help=f"quarantine file whose entries are marked (default: {QUARANTINE_FILE})")
    history.add_argument("--label", default=None, metavar="TAG", help="only results recorded with this label")
    history.add_argument("--by-label", action="store_true",
                         help="one scenario across release labels (medians of p50, p99, throughput)")
    history.add_argument("--changes", action="store_true",
                         help="change points in each key metric (same config as the latest run)")
    history.add_argument("--json", action="store_true",
                         help="one JSON document on stdout; the human text goes to stderr")


def _median(results: list[StoredResult], metric: str, runs: int, same_config: bool = True) -> float | None:
    latest = results[-1].config_hash
    passing = [r.metrics for r in reversed(results)
               if (r.config_hash == latest or not same_config)
               and r.status in ("passed", "flaky") and metric in r.metrics]
    return baseline_of(metric, passing[:runs])[0]


def _baseline_median(baseline: list[dict[str, float]], metric: str) -> float | None:
    return baseline_of(metric, baseline)[0]


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def scenario_rows(rows: list[tuple[str, list[StoredResult]]], quarantine: QuarantineList,
                  rules: StateRules, baseline_runs: int,
                  baselines: dict[str, list[dict[str, float]]] | None = None) -> list[dict[str, Any]]:
    """One dict per scenario: what the table shows and `--json` prints.

    `baselines`: per scenario, the metrics regression checks compare with now
    (History.baseline_metrics: passing runs since the last accepted one).
    """
    out = []
    for name, results in rows:
        q = quarantine.find(name)
        statuses = [r.status for r in results]
        base = None if baselines is None else baselines.get(name, [])
        passes, failures = flake_evidence(results)
        flake = flake_probability(passes, failures)
        out.append({
            "scenario": name,
            "state": current_state(statuses, q is not None, rules).value if results else None,
            "results": statuses,
            "flake_rate": round(flake_rate(statuses, rules), 4) if results else None,
            # the measured flake probability (Beta posterior over good runs' attempts) and
            # how many failures in a row block at 95% (harness.gate.sequential)
            "flake_probability": round(flake, 4),
            "flake_evidence": {"passed_attempts": passes, "failed_attempts": failures},
            "failures_to_block": failures_to_block(flake),
            "p99_ok_baseline_ms": (_median(results, "p99_ok_ms", baseline_runs) if base is None
                                   else _baseline_median(base, "p99_ok_ms")) if results else None,
            "ok_rps_baseline": (_median(results, "ok_rps", baseline_runs) if base is None
                                else _baseline_median(base, "ok_rps")) if results else None,
            "last_run": results[-1].started_at if results else None,
            "last_label": results[-1].label if results else None,
            "last_versions": results[-1].versions if results else None,
            "quarantine": None if q is None else {"owner": q.owner, "reason": q.reason},
        })
    return out


def failures_to_block(flake: float, confidence: float = 0.95) -> int:
    """Failures in a row that the suite's sequential rule calls broken (max 10)."""
    miss = 1.0 - confidence
    rule = SequentialRule(flake_probability=flake, alpha=miss, beta=miss, max_runs=10)
    decision = rule.decide([False] * rule.max_runs)
    return decision.runs if decision.state == "fail" else rule.max_runs + 1


def change_rows(results: list[StoredResult]) -> list[dict[str, Any]]:
    """Change points of each key metric over the runs with the latest run's config."""
    if not results:
        return []
    latest = results[-1].config_hash
    same = [r for r in results if r.config_hash == latest]
    out = []
    for metric in KEY_METRICS:
        runs = [r for r in same if r.metrics.get(metric) is not None]
        for change in change_points([float(r.metrics[metric]) for r in runs]):
            began = runs[change.index]
            out.append({"metric": metric, "suite_run": began.suite_run, "label": began.label,
                        "started_at": began.started_at, "runs": len(runs), **change.as_dict()})
    return out


def print_changes(console: Console, scenario: str, rows: list[dict[str, Any]], runs: int) -> None:
    if not rows:
        console.print(f"{scenario}: no change points in {runs} runs (permutation test, 1%)",
                      highlight=False)
        return
    table = ci_table(f"{scenario}: change points")
    table.add_column("metric", no_wrap=True)
    table.add_column("began at run", overflow="fold")
    for column in ("label", "before", "after", "change", "p"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row["metric"], f"{row['suite_run']} ({_when(row['started_at'])})", row["label"] or "-",
                      f"{row['before']:.4g}", f"{row['after']:.4g}", f"{row['change_pct']:+.1f}%",
                      f"{row['p_value']:.3f}")
    console.print(table)


def label_rows(results: list[StoredResult]) -> list[dict[str, Any]]:
    """A scenario across releases: one dict per label, in the order the labels first ran."""
    by_label: dict[str, list[StoredResult]] = {}
    for r in results:
        by_label.setdefault(r.label or "-", []).append(r)
    out = []
    for label, group in by_label.items():
        last = group[-1]
        out.append({
            "label": label,
            "results": [r.status for r in group],
            "p50_ok_ms": _median(group, "p50_ok_ms", len(group), same_config=False),
            "p99_ok_ms": _median(group, "p99_ok_ms", len(group), same_config=False),
            "ok_rps": _median(group, "ok_rps", len(group), same_config=False),
            "ray": last.versions.get("ray"), "app": last.versions.get("app"),
            "harness": last.versions.get("harness"), "last_run": last.started_at,
        })
    return out


def _glyphs(statuses: list[str]) -> str:
    return "".join(GLYPHS.get(s, "?") for s in statuses)


def print_scenarios(console: Console, title: str, rows: list[dict[str, Any]]) -> None:
    """Short cells at 80 columns; the result strips and quarantine notes below the table."""
    table = ci_table(title)
    table.add_column("scenario", overflow="fold")
    for column in ("state", "runs", "flaky", "p99ok base", "ok/s base", "last run"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        if row["state"] is None:
            table.add_row(row["scenario"], "-", "0", "-", "-", "-", "-")
            continue
        table.add_row(row["scenario"], f"[{STATE_STYLE.get(row['state'], '')}]{row['state']}[/]",
                      str(len(row["results"])), f"{row['flake_rate']:.0%}",
                      _fmt(row["p99_ok_baseline_ms"], "ms"), _fmt(row["ok_rps_baseline"], "/s"),
                      _when(row["last_run"])[5:])
    console.print(table)
    width = max((len(row["scenario"]) for row in rows), default=0)
    for row in rows:
        if row["results"]:
            console.print(f"{row['scenario']:<{width}}  {_glyphs(row['results'])}", highlight=False)
    for row in rows:
        if row["results"] and "flake_probability" in row:
            blocks = row["failures_to_block"]
            console.print(f"{row['scenario']}: flake p {row['flake_probability']:.1%}, "
                          f"{blocks} failure{'s' if blocks != 1 else ''} in a row block",
                          highlight=False, soft_wrap=True)
    for row in rows:
        if row["quarantine"]:
            q = row["quarantine"]
            console.print(f"[cyan]quarantined:[/] {row['scenario']}: {q['owner']}: {q['reason']}",
                          soft_wrap=True, highlight=False)
    for row in rows:
        accept = row.get("baseline_accept")
        if accept:
            console.print(f"baseline of {row['scenario']} accepted {_when(accept['accepted_at'])} by "
                          f"{accept['accepted_by']} (run {accept['suite_run']}): {accept['reason']}",
                          soft_wrap=True, highlight=False)
    console.print("P passed  f flaky (failed, passed on rerun)  F failed  E infrastructure error"
                  "  (oldest left)", highlight=False)
    console.print("R regressed (SLOs met, blocked by a regression check; never a baseline)",
                  highlight=False)


def print_labels(console: Console, scenario: str, rows: list[dict[str, Any]]) -> None:
    table = ci_table(f"{scenario} by release label")
    table.add_column("label", overflow="fold")
    for column in ("passed", "p50 ok", "p99 ok", "ok/s", "ray"):
        table.add_column(column, no_wrap=True)
    table.add_column("app", overflow="fold")
    for row in rows:
        passed = sum(1 for s in row["results"] if s in ("passed", "flaky"))
        table.add_row(row["label"], f"{passed}/{len(row['results'])}", _fmt(row["p50_ok_ms"], "ms"),
                      _fmt(row["p99_ok_ms"], "ms"), _fmt(row["ok_rps"], ""),
                      row["ray"] or "-", row["app"] or "-")
    console.print(table)
    width = max((len(row["label"]) for row in rows), default=0)
    for row in rows:  # each label's results, oldest left, below the table
        console.print(f"{row['label']:<{width}}  {_glyphs(row['results'])}", highlight=False)


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    if args.last < 1 or args.baseline_runs < 1:
        print("--last and --baseline-runs: expected a positive number", file=sys.stderr)
        return EXIT_USAGE
    if args.by_label and len(args.scenarios) != 1:
        print("--by-label: expected exactly one scenario name", file=sys.stderr)
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
        if args.json_out is not None:
            args.json_out.emit({"command": "history", "history": str(path), "scenarios": []})
        return EXIT_PASSED
    try:
        history = History(path)
        names = args.scenarios or history.scenarios(args.suite)
        limit = args.last if not (args.by_label or args.changes) else 100_000
        rows = [(name, history.results(name, limit)) for name in names]
        # The baselines regression checks would use now: passing runs since the last accept.
        baselines = {name: history.baseline_metrics(name, results[-1].config_hash, args.baseline_runs)
                     for name, results in rows if results}
        accepts = {name: history.latest_accept(name) for name, _ in rows}
    except sqlite3.Error as exc:
        print(f"{path}: expected a harness history database ({exc})", file=sys.stderr)
        return EXIT_USAGE
    if args.label is not None:
        rows = [(name, [r for r in results if r.label == args.label]) for name, results in rows]
    if args.changes:
        found = {name: change_rows(results) for name, results in rows}
        if args.json_out is not None:
            args.json_out.emit({"command": "history", "history": str(path), "changes": found})
        for name, results in rows:
            print_changes(console, name, found[name], len(results))
        return EXIT_PASSED
    if args.by_label:
        labels = label_rows(rows[0][1])
        if args.json_out is not None:
            args.json_out.emit({"command": "history", "history": str(path), "scenario": rows[0][0],
                                "labels": labels})
        print_labels(console, rows[0][0], labels)
        return EXIT_PASSED
    table_rows = scenario_rows(rows, quarantine, StateRules(window=args.last), args.baseline_runs, baselines)
    for row in table_rows:
        accept = accepts.get(row["scenario"])
        row["baseline_accept"] = None if accept is None else {
            "suite_run": accept.suite_run, "accepted_at": accept.accepted_at,
            "accepted_by": accept.accepted_by, "reason": accept.reason}
    if args.json_out is not None:
        args.json_out.emit({"command": "history", "history": str(path), "scenarios": table_rows})
    print_scenarios(console, f"history: last {args.last} results per scenario", table_rows)
    return EXIT_PASSED
