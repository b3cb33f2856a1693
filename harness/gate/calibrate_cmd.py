"""`harness calibrate SCENARIO --runs N`: run a scenario N times and show how much room
each SLO's bound leaves (statistics in harness.gate.calibrate).

Run i uses seed K+i (K: --seed-from, default the scenario's seed). The runs share
one cluster as a suite's pool shares it (no chaos section, a local cluster);
otherwise each run starts its own. Results go to results/calibrate-<name>-<ts>/:
each run's directory, calibration.json and calibration.md.

Exit codes: 0 every run passed every SLO; 1 some run failed an SLO; 2 bad config
or usage; 3 a run had an infrastructure error (its figures are left out).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from rich.console import Console

from harness.files import write_atomic
from harness.gate.calibrate import (
    SHORT_HEADERS,
    Calibration,
    calibrate,
    derive_seeds,
    markdown,
    rewrite_checks,
    suggested_header,
    table_rows,
)
from harness.model.errors import ConfigError
from harness.model.outcome import EXIT_INFRA, EXIT_USAGE, RunOutcome
from harness.model.overrides import apply_override
from harness.report.terminal import print_rows
from harness.scenario.loader import load_scenario, parse_override, read_yaml, seed_override

DEFAULT_MARGIN_PCT = 25.0


def add_parser(sub: Any, results_default: Path) -> None:
    cal = sub.add_parser("calibrate", help="run a scenario N times; show each SLO's margin and suggest bounds")
    cal.add_argument("scenario", help="scenario YAML file")
    cal.add_argument("--runs", type=int, required=True, help="how many runs (2 or more)")
    cal.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override a field of the scenario (repeatable)")
    cal.add_argument("--seed-from", type=int, default=None, metavar="K",
                     help="run i uses seed K+i (default K: the scenario's seed)")
    cal.add_argument("--margin", type=float, default=DEFAULT_MARGIN_PCT, metavar="PCT",
                     help=f"margin of a suggested bound beyond the worst value seen (default {DEFAULT_MARGIN_PCT:g})")
    cal.add_argument("--write-suggested", type=Path, default=None, metavar="FILE",
                     help="write a copy of the scenario with the suggested bounds")
    cal.add_argument("--results", type=Path, default=results_default, help="results root (default: results/)")
    cal.add_argument("--json", action="store_true",
                     help="one JSON document on stdout (calibration.json's); the human text goes to stderr")


def machine_line() -> str:
    cores = psutil.cpu_count(logical=True)
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.node()} ({platform.system()} {platform.machine()}, {cores} cores, {mem:.0f} GiB)"


def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    if args.runs < 2 or args.runs > 100:
        print(f"--runs {args.runs}: expected 2 to 100 runs (a spread needs two)", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.margin <= 1000:
        print(f"--margin {args.margin:g}: expected a percentage from 0 to 1000", file=sys.stderr)
        return EXIT_USAGE
    try:
        base = load_scenario(args.scenario, args.overrides)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    if args.write_suggested is not None and args.write_suggested.resolve() == Path(args.scenario).resolve():
        print(f"--write-suggested {args.write_suggested}: expected a new file, not the scenario itself",
              file=sys.stderr)
        return EXIT_USAGE
    seeds = derive_seeds(base.seed if args.seed_from is None else args.seed_from, args.runs)
    work_dir = (args.results / f"calibrate-{base.name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    try:
        work_dir.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        print(f"{args.results}: expected a writable results directory ({exc})", file=sys.stderr)
        return EXIT_INFRA
    console.print(f"calibrating {base.name}: {args.runs} runs, seeds {', '.join(map(str, seeds))} "
                  f"(seed i = {seeds[0]} + i); results in {work_dir}", highlight=False)
    cal = run_calibration(args.scenario, args.overrides, seeds, args.margin, work_dir, console)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = cal.as_dict() | {"date": when, "machine": machine_line()}
    write_atomic(work_dir / "calibration.json", json.dumps(report, indent=2))
    write_atomic(work_dir / "calibration.md", markdown(cal))
    print_table(console, cal)
    if args.json_out is not None:
        args.json_out.emit({"command": "calibrate", "exit_code": cal.exit_code, "results": str(work_dir)}
                           | report)
    if args.write_suggested is not None:
        if cal.slos:
            write_suggested(args.write_suggested, args.scenario, args.overrides, cal, when)
            console.print(f"suggested bounds written to {args.write_suggested}", highlight=False)
        else:
            console.print(f"[yellow]no run was judged: {args.write_suggested} not written[/]", highlight=False)
    return cal.exit_code


def run_calibration(scenario_file: str, overrides: list[str], seeds: list[int], margin_pct: float,
                    work_dir: Path, console: Console) -> Calibration:
    """The N runs (one shared cluster where allowed), then the statistics."""
    from harness.cluster.pool import ClusterPool
    from harness.report.run_results import RunResults
    from harness.run.runner import Runner  # imports Ray: only once the config is valid

    pool = ClusterPool(work_dir, console)
    outcomes: list[RunOutcome] = []
    errors: list[str] = []
    shared = False
    try:
        for index, seed in enumerate(seeds, 1):
            run_overrides = [*overrides, *seed_override(seed)]
            scenario = load_scenario(scenario_file, run_overrides)
            console.rule(f"[bold]{scenario.name}[/] run {index}/{len(seeds)}, seed {seed}")
            runner = Runner(scenario=scenario, scenario_file=scenario_file, results_root=work_dir,
                            reporter=RunResults(), overrides=run_overrides,
                            console=console, pool=pool)
            outcome = runner.run()
            outcomes.append(outcome)
            shared = shared or runner.lease.shared
            if outcome.error is not None:
                errors.append(f"run {index} (seed {seed}): {outcome.error_kind}: {outcome.error}")
                if outcome.error_kind == "interrupted":
                    break
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
        pool.close()
    judged = [o.verdicts for o in outcomes if o.error is None]
    return Calibration(
        scenario=outcomes[0].scenario_name if outcomes else Path(scenario_file).stem,
        scenario_file=scenario_file, seeds=seeds, margin_pct=margin_pct,
        slos=calibrate(judged, margin_pct), run_statuses=[o.status for o in outcomes],
        run_dirs=[o.run_dir for o in outcomes], errors=errors, shared_cluster=shared,
    )


def print_table(console: Console, cal: Calibration) -> None:
    title = (f"calibration of {cal.scenario} over {len(cal.run_statuses)} runs "
             f"(seeds {', '.join(map(str, cal.seeds))})")
    print_rows(console, title, SHORT_HEADERS, table_rows(cal, full=False),
               ["yellow" if slo.warnings else None for slo in cal.slos])
    for slo in cal.slos:
        suggestion = slo.suggested_check or slo.suggestion_note
        console.print(f"suggested  {slo.name}: {suggestion}", highlight=False, soft_wrap=True)
    for slo in cal.flaky:
        console.print(f"[yellow]warning[/] {slo.name} ({slo.check}): {'; '.join(slo.warnings)}", highlight=False)
    for error in cal.errors:
        console.print(f"[red]infrastructure error[/] {error}", highlight=False)
    statuses = ", ".join(f"seed {s}: {st}" for s, st in zip(cal.seeds, cal.run_statuses, strict=False))
    console.print(f"runs: {statuses}; exit {cal.exit_code}", highlight=False)


def write_suggested(path: Path, scenario_file: str, overrides: list[str], cal: Calibration, when: str) -> None:
    """A copy of the scenario with the suggested checks; comments kept where nothing was --set."""
    header = "".join(f"# {line}\n" for line in suggested_header(cal, when, machine_line()))
    replacements = {s.check: s.suggested_check for s in cal.slos if s.suggested_check}
    text, missing = rewrite_checks(Path(scenario_file).read_text(encoding="utf-8"), replacements)
    if overrides or missing:
        # The file's text is not what ran: write the resolved scenario (comments lost).
        data = read_yaml(Path(scenario_file))
        for override in overrides:
            key_path, value = parse_override(override)
            apply_override(data, key_path, value, scenario_file)
        for slo in data.get("slos", []):
            if isinstance(slo, dict) and slo.get("check") in replacements:
                slo["check"] = replacements[slo["check"]]
        text = f"# Resolved from {scenario_file} with --set {' '.join(overrides) or '(none)'}\n" \
               + yaml.safe_dump(data, sort_keys=False)
    write_atomic(path, header + text)
