"""`harness bisect SCENARIO --repo PATH --good REF --bad REF`: the commit that broke a scenario.

Each probed commit is checked out into a worktree of its own and the scenario is run
against it (harness.gate.bisect.commit_run) until Wald's sequential test decides it
passes or fails (harness.gate.bisect.search); the flake rate comes from --flake-rate,
from history.sqlite, or is measured on the good commit. State, runs and the result live
in <results>/bisect-<scenario>-<good>-<bad>/; rerunning the same command resumes.

Exit codes: 0 a first bad commit is named; 2 bad input (scenario, refs, options, or a
stopped bisect with other settings in the folder); 3 no commit can be named: the good
commit fails, the bad one does not fail stably, a commit stays undecided within
--max-runs, infrastructure errors, or the bisect was stopped (rerun to resume).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.gate.bisect import git
from harness.gate.bisect.bisect_report import document, markdown, table_lines
from harness.gate.bisect.bisect_state import BisectState, Commit, resume_mismatch
from harness.gate.bisect.search import (
    DEFAULT_ALPHA,
    DEFAULT_BROKEN_PROBABILITY,
    DEFAULT_MAX_RUNS,
    DEFAULT_MEASURE_RUNS,
    Step,
    decisions_needed,
)
from harness.gate.sequential import flake_probability
from harness.model.errors import ConfigError
from harness.model.outcome import EXIT_INFRA, EXIT_PASSED, EXIT_USAGE

MIN_HISTORY_RUNS = 10  # fewer judged runs in history: measure the flake rate instead
RESULT_FILE = "bisect-result.json"
MARKDOWN_FILE = "bisect.md"


def add_parser(sub: Any, results_default: Path) -> None:
    p = sub.add_parser("bisect", help="find the first commit that fails a scenario (flake-aware)")
    p.add_argument("scenario", help="scenario YAML file (the same SLOs judge every commit)")
    p.add_argument("--repo", type=Path, required=True, help="the app's git repository")
    p.add_argument("--good", required=True, metavar="REF", help="a commit where the scenario passes")
    p.add_argument("--bad", required=True, metavar="REF", help="a later commit where it fails")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a field of the scenario (repeatable)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"bound on blaming the wrong commit (default {DEFAULT_ALPHA:g})")
    p.add_argument("--flake-rate", type=float, default=None, metavar="P",
                   help="the scenario's flake rate (default: from history, else measured on --good)")
    p.add_argument("--broken-rate", type=float, default=DEFAULT_BROKEN_PROBABILITY, metavar="P",
                   help=f"how often a broken commit fails (default {DEFAULT_BROKEN_PROBABILITY:g})")
    p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help=f"runs per commit before it is undecided (default {DEFAULT_MAX_RUNS})")
    p.add_argument("--measure-runs", type=int, default=DEFAULT_MEASURE_RUNS,
                   help=f"runs of --good that measure the flake rate (default {DEFAULT_MEASURE_RUNS})")
    p.add_argument("--setup", default=None, metavar="CMD",
                   help="run in each commit's worktree to install its dependencies into a cached venv")
    p.add_argument("--results", type=Path, default=results_default, help="results root (default: results/)")
    p.add_argument("--history", type=Path, default=None,
                   help="history database (default: <results>/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="neither read the flake rate nor record the blame")
    p.add_argument("--fresh", action="store_true", help="discard a stopped bisect's runs and start over")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout; human text on stderr")
    p.add_argument("--summary-md", type=Path, default=None, metavar="FILE",
                   help="write the result as Markdown (also appended to $GITHUB_STEP_SUMMARY when set)")


def _usage(line: str) -> int:
    print(line, file=sys.stderr)
    return EXIT_USAGE


def _check_options(args: argparse.Namespace) -> str | None:
    if not 0 < args.alpha < 0.5:
        return f"--alpha {args.alpha:g}: expected a probability between 0 and 0.5"
    if args.flake_rate is not None and not 0 <= args.flake_rate < args.broken_rate:
        return f"--flake-rate {args.flake_rate:g}: expected 0 <= rate < --broken-rate ({args.broken_rate:g})"
    if not 0.1 <= args.broken_rate < 1:
        return f"--broken-rate {args.broken_rate:g}: expected a rate from 0.1 to below 1"
    if not 1 <= args.max_runs <= 200:
        return f"--max-runs {args.max_runs}: expected 1 to 200"
    if not 1 <= args.measure_runs <= args.max_runs:
        return f"--measure-runs {args.measure_runs}: expected 1 to --max-runs ({args.max_runs})"
    return None


def history_flake(path: Path, scenario: str) -> tuple[float, str] | None:
    """The flake rate from a scenario's suite history: passed runs and the failed attempts of
    flaky ones (failed results are left out: they may be real breakage)."""
    from harness.gate.history import History

    try:
        rows = [r for r in History(path).results(scenario, limit=200) if r.suite != "bisect"]
    except (sqlite3.Error, OSError):
        return None
    passes = sum(1 for r in rows if r.status in ("passed", "flaky"))
    failures = sum(max(r.attempts - 1, 0) for r in rows if r.status == "flaky")
    if passes + failures < MIN_HISTORY_RUNS:
        return None
    return flake_probability(passes, failures), f"history: {failures} flaky failures in {passes + failures} runs"


def cmd_bisect(args: argparse.Namespace, console: Console) -> int:
    from harness.gate.bisect.commit_run import scenario_for

    problem = _check_options(args)
    if problem:
        return _usage(problem)
    repo = args.repo.resolve()
    try:
        commits = git.commit_range(repo, args.good, args.bad)
        subjects = [git.subject(repo, c) for c in commits]
    except git.GitError as exc:
        return _usage(f"{args.repo}: {exc}")
    try:  # validated against the user's checkout (read only); each commit is loaded again
        base = scenario_for(args.scenario, args.overrides, repo, repo, [])
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    results = args.results.resolve()
    folder = results / f"bisect-{base.name}-{commits[0][:8]}-{commits[-1][:8]}"
    history_path = args.history or results / "history.sqlite"
    wanted = {"scenario_file": str(Path(args.scenario).resolve()), "repo": str(repo), "good": commits[0],
              "bad": commits[-1], "overrides": list(args.overrides), "alpha": args.alpha,
              "flake_arg": args.flake_rate, "broken_probability": args.broken_rate,
              "max_runs": args.max_runs, "measure_runs": args.measure_runs, "setup": args.setup}
    try:
        state = None if args.fresh else BisectState.load(folder)
    except ValueError as exc:
        return _usage(f"{exc} (--fresh starts over)")
    if state is not None:
        mismatch = resume_mismatch(state, wanted)
        if mismatch:
            return _usage(f"{folder}: a stopped bisect with other settings ({'; '.join(mismatch)}); "
                          f"--fresh starts over")
        console.print(f"resuming {folder.name}: {state.total_runs()} runs done", highlight=False)
    else:
        flake, source = args.flake_rate, "--flake-rate"
        if flake is None:
            found = None if args.no_history else history_flake(history_path, base.name)
            flake, source = found if found else (None, f"measured on the good commit ({args.measure_runs} runs)")
        state = BisectState(scenario=base.name, **wanted, flake=flake, flake_source=source,
                            commits=[Commit(c, s) for c, s in zip(commits, subjects, strict=True)],
                            started_at=time.time())
        folder.mkdir(parents=True, exist_ok=True)
        state.save(folder)
    return _run(args, console, state, folder, repo, results, history_path, base)


def _run(args: argparse.Namespace, console: Console, state: BisectState, folder: Path, repo: Path,
         results: Path, history_path: Path, base: Any) -> int:
    from harness.cluster.pool import ClusterPool
    from harness.gate.bisect.commit_run import CommitRunner
    from harness.gate.bisect.driver import drive, plan_of

    wall_start = time.monotonic()
    finished_before = state.result is not None  # a rerun of a finished bisect: blamed already
    plan = plan_of(state)
    k = decisions_needed(len(state.commits))
    console.print(
        f"bisect {state.scenario}: {len(state.commits)} commits ({state.good[:12]}..{state.bad[:12]}); "
        f"wrong-blame bound {state.alpha:g} split over {k} decisions (log2 of {len(state.commits) - 1} "
        f"candidates + 2): alpha = beta = {plan.per_decision_alpha:.4g} each; at most {plan.run_budget()} "
        f"runs; flake rate {'?' if state.flake is None else f'{state.flake:.1%}'} ({state.flake_source}); "
        f"state in {folder}", highlight=False)
    pool = ClusterPool(folder, console)
    runner = CommitRunner(repo=repo, scenario_file=args.scenario, overrides=args.overrides, folder=folder,
                          results_root=results, setup=args.setup, console=console, pool=pool,
                          base_seed=base.seed)

    def on_run(index: int, record: Any, step: Step) -> None:
        commit = state.commits[index]
        console.print(f"[bold]commit {index} {commit.sha[:12]}[/] run {len(commit.runs)}: {record.status}"
                      f"{' (' + record.error + ')' if record.error else ''}", highlight=False)

    stopped = False
    try:
        step = drive(state, folder, runner, on_run)
    except KeyboardInterrupt:
        stopped = True
        step = Step(outcome="stopped", message=f"stopped after {state.total_runs()} runs: "
                                               f"rerun the same command to resume")
    finally:
        runner.close()
        pool.close()
    code = EXIT_PASSED if step.outcome == "found" else EXIT_INFRA
    doc = document(state, step, code, results_dir=str(folder), clusters_started=pool.started,
                   wall_s=round(time.monotonic() - wall_start, 1))
    if not stopped:
        state.result = {k: doc[k] for k in ("outcome", "message", "first_bad", "last_good")}
        state.save(folder)
    from harness.files import write_atomic, write_json_atomic
    from harness.report.markdown import publish

    write_json_atomic(folder / RESULT_FILE, doc)
    md = markdown(doc)
    write_atomic(folder / MARKDOWN_FILE, md)
    for line in table_lines(doc):
        console.print(line, highlight=False, soft_wrap=True)
    try:
        publish(md, args.summary_md)
    except OSError as exc:
        console.print(f"[yellow]could not write the Markdown summary: {exc}[/]")
    if step.outcome == "found" and not args.no_history and not finished_before:
        _record_blame(history_path, state, doc, base, console)
    if args.json_out is not None:
        args.json_out.emit(doc)
    return code


def _record_blame(path: Path, state: BisectState, doc: dict[str, Any], base: Any, console: Console) -> None:
    """One history row for the blamed commit: a failure of the scenario at that commit."""
    from harness.gate.history import History, StoredResult
    from harness.gate.suite_config import config_hash

    bad = state.commits[doc["first_bad"]["index"]]
    judged = [r for r in bad.runs if r.judged]
    keys = list(dict.fromkeys(k for r in judged for k in r.metrics))
    metrics = {k: statistics.median([r.metrics[k] for r in judged if k in r.metrics]) for k in keys}
    failing = [s["slo"] for s in doc["slo_changes"] if s["first_bad_passed"].split("/")[0] != s["first_bad_passed"].split("/")[1]]
    try:
        History(path).record(StoredResult(
            scenario=state.scenario, status="failed", suite="bisect", suite_run=Path(doc["results_dir"]).name,
            config_hash=config_hash(base), started_at=state.started_at, attempts=len(judged),
            metrics=metrics, failed_slos=failing, run_dirs=[r.run_dir for r in judged],
            label=f"bisect first bad {bad.sha[:12]}", versions={"app": bad.sha},
        ))
    except (sqlite3.Error, OSError) as exc:
        console.print(f"[yellow]could not record the blame in {path}: {exc}[/]")
