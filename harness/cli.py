"""`harness` command line.

Exit codes: 0 every SLO passed; 1 an SLO failed (block the release); 2 invalid
config or usage; 3 the harness or the infrastructure failed (no verdict).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from harness.gate import baseline_cmd, history_cmd, suite_cmd
from harness.loader import ConfigError, load_scenario
from harness.outcome import EXIT_INFRA, EXIT_PASSED, EXIT_USAGE
from harness.report.rebuild import add_report_parser, cmd_report

DEFAULT_RESULTS = Path("results")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep it one line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Chaos and load-testing harness for release gating.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one scenario and write its verdict")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override a field of the scenario (repeatable)")
    run.add_argument("--seed", type=int, default=None, help="fix every random choice of the run")
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results root (default: results/)")

    reproduce = sub.add_parser("reproduce", help="rerun a recorded run with the same config and seed")
    reproduce.add_argument("run_dir", type=Path, help="results/<run-id> of the run to replay")
    reproduce.add_argument("--results", type=Path, default=None,
                           help="results root for the new run (default: the old run's parent)")

    validate = sub.add_parser("validate", help="check scenario files without running anything")
    validate.add_argument("files", nargs="+")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")

    add_report_parser(sub, DEFAULT_RESULTS)
    suite_cmd.add_parser(sub, DEFAULT_RESULTS)
    history_cmd.add_parser(sub, DEFAULT_RESULTS)
    baseline_cmd.add_parser(sub, DEFAULT_RESULTS)
    sub.add_parser("cleanup", help="kill what runs that died left behind (also done at every run's start)")
    return parser


def cmd_cleanup(args: argparse.Namespace, console: Console) -> int:
    from harness.registry import clean_dead_runs

    reports = clean_dead_runs()
    for report in reports:
        console.print(report.line())
    if not reports:
        console.print("no leftovers of dead runs")
    return EXIT_PASSED


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    failed = False
    for name in args.files:
        try:
            scenario = load_scenario(name, args.overrides)
        except ConfigError as exc:
            failed = True
            for line in exc.lines:
                print(line, file=sys.stderr)
            continue
        console.print(f"{name}: ok ({scenario.name}, {len(scenario.slos)} SLOs)")
    return EXIT_USAGE if failed else EXIT_PASSED


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    try:
        scenario = load_scenario(args.scenario, args.overrides, args.seed)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    from harness.runner import Runner  # imports Ray: only once the config is valid

    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    try:
        runner = Runner(scenario, args.scenario, args.results, overrides=overrides, console=console)
    except OSError as exc:
        print(f"{args.results}: expected a writable results directory ({exc})", file=sys.stderr)
        return EXIT_INFRA
    return runner.run().exit_code


def cmd_reproduce(args: argparse.Namespace, console: Console) -> int:
    """Rerun results/<run>/scenario.yaml: the resolved scenario, seed included."""
    recorded = args.run_dir / "scenario.yaml"
    if not recorded.is_file():
        print(f"{recorded}: expected the resolved scenario of a recorded run", file=sys.stderr)
        return EXIT_USAGE
    try:
        scenario = load_scenario(recorded)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    from harness.runner import Runner

    console.print(f"reproducing {args.run_dir.name}: scenario {scenario.name}, seed {scenario.seed}")
    results = args.results or args.run_dir.resolve().parent
    runner = Runner(scenario, str(recorded), results, console=console)
    runner.ctx.artifacts["reproduces"] = args.run_dir.name
    return runner.run().exit_code


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "reproduce": cmd_reproduce,
    "report": cmd_report,
    "suite": suite_cmd.cmd_suite,
    "history": history_cmd.cmd_history,
    "baseline": baseline_cmd.cmd_baseline,
    "cleanup": cmd_cleanup,
}


def main(argv: list[str] | None = None) -> int:
    # Ray reads this once, when first imported: set it before anything imports ray.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    args = build_parser().parse_args(argv)
    console = Console()
    return COMMANDS[args.command](args, console)


if __name__ == "__main__":
    sys.exit(main())
