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

from harness import __version__
from harness.files import write_atomic
from harness.gate import baseline_cmd, calibrate_cmd, history_cmd, suite_cmd
from harness.gate.bisect import cmd as bisect_cmd
from harness.jsonout import JsonStdout
from harness.model.errors import ConfigError
from harness.model.outcome import EXIT_INFRA, EXIT_PASSED, EXIT_USAGE, RunOutcome
from harness.report import compare
from harness.report.html import ReportError
from harness.report.markdown import publish, run_markdown
from harness.report.rebuild import add_report_parser, cmd_report, resolve_run
from harness.scenario.loader import config_warnings, load_scenario, seed_override

DEFAULT_RESULTS = Path("results")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep it one line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Chaos and load-testing harness for release gating.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one scenario and write its verdict")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override a field of the scenario (repeatable)")
    run.add_argument("--seed", type=int, default=None, help="fix every random choice of the run")
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results root (default: results/)")
    run.add_argument("--fail-fast", action="store_true",
                     help="end the run as soon as an SLO surely failed (abort_on_fail on every SLO that "
                          "supports it; docs/verdicts.md)")
    run.add_argument("--label", default="", metavar="TAG",
                     help="the release under test (e.g. a tag): a label on every exported metric")
    add_strict_flag(run)
    add_output_flags(run, summary_md=True)
    add_prometheus_flags(run, live=True)

    reproduce = sub.add_parser("reproduce", help="rerun a recorded run with the same config and seed")
    reproduce.add_argument("run", help="the run to replay: its folder (local or downloaded from CI), "
                                       "its run id under --results, or 'latest'")
    reproduce.add_argument("--results", type=Path, default=None,
                           help="results root to find RUN in and for the new run "
                                "(default: results/ to find it; the old run's parent for the new one)")
    add_output_flags(reproduce)

    validate = sub.add_parser("validate", help="check scenario and suite files without running anything "
                                                "(imports user classes and app import paths in a child process)")
    validate.add_argument("files", nargs="+", help="scenario files, or suite files (every entry is checked)")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                          help="override a field of every scenario (repeatable)")
    add_strict_flag(validate)
    add_output_flags(validate)

    calibrate_cmd.add_parser(sub, DEFAULT_RESULTS)
    add_report_parser(sub, DEFAULT_RESULTS)
    suite_cmd.add_parser(sub, DEFAULT_RESULTS)
    history_cmd.add_parser(sub, DEFAULT_RESULTS)
    baseline_cmd.add_parser(sub, DEFAULT_RESULTS)
    bisect_cmd.add_parser(sub, DEFAULT_RESULTS)
    cleanup = sub.add_parser("cleanup", help="kill what runs that died left behind (also done at every run's start)")
    add_output_flags(cleanup)
    compare.add_parser(sub)
    init = sub.add_parser("init", help="write a commented starter scenario (and its JSON schema beside it)")
    init.add_argument("file", nargs="?", type=Path, default=Path("scenario.yaml"),
                      help="the scenario file to write (default: scenario.yaml); "
                           "scenario.schema.json goes beside it")
    init.add_argument("--name", default=None, help="scenario name (default: the file's stem)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_output_flags(init)
    sub.add_parser("schema", help="print the scenario JSON schema (for editors and CI checks)")
    completion = sub.add_parser("completion", help="print a shell completion script built from this parser")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"),
                            help="shell to complete in, e.g. `harness completion bash > "
                                 "/etc/bash_completion.d/harness`")
    add_exit_codes(parser)
    return parser


EXIT_CODES_RUN = """exit codes:
  0  every SLO passed
  1  an SLO failed: block the release
  2  invalid config or usage (one line per problem on stderr)
  3  infrastructure or harness error: no verdict on the release (rerun it)"""
EXIT_CODES_DONE = """exit codes:
  0  done
  2  invalid usage or input (one line on stderr)"""
# Per command; a command not named here has EXIT_CODES_DONE.
EXIT_CODES = {
    "harness": EXIT_CODES_RUN,
    "run": EXIT_CODES_RUN,
    "reproduce": EXIT_CODES_RUN,
    "calibrate": """exit codes:
  0  every run passed every SLO
  1  some run failed an SLO
  2  invalid config or usage
  3  a run had an infrastructure error (its figures are left out)""",
    "suite": """exit codes:
  0  ship: nothing blocks the release
  1  blocked: a blocking scenario failed every attempt or regressed
  2  an invalid suite, scenario or quarantine file
  3  no verdict: the harness or the infrastructure failed (rerun it)""",
    "bisect": """exit codes:
  0  a first bad commit is named
  2  invalid scenario, refs that make no first-parent range, options, or a stopped
     bisect with other settings in its folder (--fresh starts over)
  3  no commit can be named: the good commit fails, the bad one does not fail stably,
     a commit stays undecided, infrastructure errors, or stopped (rerun to resume)""",
    "validate": """exit codes:
  0  every file is a valid scenario or suite
  2  a file is invalid (one line per problem: file, key path, what was expected)""",
}


def add_exit_codes(parser: argparse.ArgumentParser, name: str = "harness") -> None:
    """Every command's --help ends with its exit codes (kept as written: not re-wrapped)."""
    parser.epilog = EXIT_CODES.get(name, EXIT_CODES_DONE)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                add_exit_codes(sub, sub_name)


def add_strict_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="refuse keys of a Serve config file that Ray does not know (warnings otherwise)")


def add_output_flags(parser: argparse.ArgumentParser, summary_md: bool = False) -> None:
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout; the human text goes to stderr")
    if summary_md:
        parser.add_argument("--summary-md", type=Path, default=None, metavar="FILE",
                            help="write the verdict as Markdown (also appended to "
                                 "$GITHUB_STEP_SUMMARY when that is set)")


def add_prometheus_flags(parser: argparse.ArgumentParser, live: bool = False) -> None:
    """Prometheus output (docs/prometheus.md); every run folder has openmetrics.prom anyway."""
    if live:
        parser.add_argument("--openmetrics", type=Path, default=None, metavar="FILE",
                            help="also write the run's verdicts and metrics here, in Prometheus's text format "
                                 "(e.g. node_exporter's textfile directory)")
        parser.add_argument("--metrics-port", type=_port, default=None, metavar="N",
                            help="serve live counters for Prometheus on 127.0.0.1:N while the run goes on")
    parser.add_argument("--pushgateway", default=None, metavar="URL",
                        help="push the verdicts and metrics to this Pushgateway (job harness, grouped by "
                             "scenario and release label)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {port}")
    return port


def export_run(outcome: RunOutcome, openmetrics: Path | None, pushgateway: str | None, console: Console) -> None:
    """--openmetrics and --pushgateway: never change the verdict, say what failed."""
    from harness.report.prometheus import RUN_FILE, push_run

    run_dir = Path(outcome.run_dir)
    if openmetrics is not None:
        try:
            source = run_dir / RUN_FILE
            write_atomic(openmetrics, source.read_text())
            console.print(f"openmetrics: {openmetrics}", highlight=False, soft_wrap=True)
        except OSError as exc:
            console.print(f"[yellow]could not write {openmetrics}: {exc}[/]", highlight=False)
    if pushgateway:
        try:
            key = push_run(run_dir, pushgateway)
            console.print(f"pushed to {pushgateway} (job harness, {', '.join(f'{k}={v}' for k, v in key.items())})",
                          highlight=False, soft_wrap=True)
        except Exception as exc:  # the gateway down: the verdict stands, the push is reported
            console.print(f"[yellow]could not push to {pushgateway}: {type(exc).__name__}: {exc}[/]",
                          highlight=False, soft_wrap=True)


def version_line() -> str:
    from importlib import metadata

    found = []
    for package in ("ray", "locust"):  # from metadata: importing them is slow (and locust patches)
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} missing")
    return f"harness {__version__} ({', '.join(found)}, python {sys.version.split()[0]})"


def run_document(outcome: RunOutcome) -> dict[str, object]:
    """What `harness run --json` prints: the verdict; summary.json has every input."""
    return {
        "command": "run", "run_id": outcome.run_id, "scenario": outcome.scenario_name,
        "scenario_file": outcome.scenario_file, "seed": outcome.seed, "status": outcome.status,
        "exit_code": outcome.exit_code, "run_dir": outcome.run_dir,
        "error": None if outcome.error is None else {"kind": outcome.error_kind, "message": outcome.error},
        "notes": outcome.notes, "reproduce": outcome.reproduce_command, "metrics": outcome.metrics,
        "verdicts": [{k: v for k, v in verdict.as_dict().items() if k != "inputs"}
                     for verdict in outcome.verdicts],
    }


def _config_error(args: argparse.Namespace, exc: ConfigError, command: str) -> int:
    for line in exc.lines:
        print(line, file=sys.stderr)
    if args.json_out is not None:
        args.json_out.emit({"command": command, "status": "invalid", "exit_code": EXIT_USAGE,
                            "errors": exc.lines})
    return EXIT_USAGE


def _report_run(args: argparse.Namespace, outcome: RunOutcome, console: Console) -> int:
    if args.json_out is not None:
        args.json_out.emit(run_document(outcome))
    try:
        for path in publish(run_markdown(outcome), args.summary_md):
            console.print(f"summary: {path}", highlight=False, soft_wrap=True)
    except OSError as exc:  # a summary that cannot be written must not change the verdict
        console.print(f"[yellow]could not write the Markdown summary: {exc}[/]")
    return outcome.exit_code


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    from harness.scenario.scaffold import schema_text, starter_scenario

    path: Path = args.file
    if path.exists() and not args.force:
        print(f"{path}: expected a new file (it exists; --force overwrites it)", file=sys.stderr)
        return EXIT_USAGE
    write_atomic(path, starter_scenario(args.name or path.stem.replace(".", "-") or "my-scenario", str(path)))
    schema = path.parent / "scenario.schema.json"
    write_atomic(schema, schema_text())  # always this version's: an old schema would mislead the editor
    scenario = load_scenario(path)  # the starter must validate, or this is a bug
    console.print(f"wrote {path} ({scenario.name}, {len(scenario.slos)} SLOs) and {schema.name}", highlight=False)
    console.print(f"next: harness run {path}", highlight=False)
    if args.json_out is not None:
        args.json_out.emit({"command": "init", "exit_code": EXIT_PASSED, "scenario": str(path),
                            "schema": str(schema), "name": scenario.name, "slos": len(scenario.slos)})
    return EXIT_PASSED


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from harness.scenario.scaffold import schema_text

    sys.stdout.write(schema_text())
    return EXIT_PASSED


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    import shtab  # generates the script from the argparse tree, so it cannot drift from it

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_PASSED


def cmd_cleanup(args: argparse.Namespace, console: Console) -> int:
    from harness.procs.run_registry import clean_dead_runs

    reports = clean_dead_runs()
    for report in reports:
        console.print(report.line())
    if not reports:
        console.print("no leftovers of dead runs")
    if args.json_out is not None:
        args.json_out.emit({"command": "cleanup", "exit_code": EXIT_PASSED,
                            "cleaned": [report.line() for report in reports]})
    return EXIT_PASSED


def _is_suite(name: str) -> bool:
    """A suite file lists scenarios and has no scenario's own keys (harness.gate.suite_config)."""
    from harness.scenario.loader import read_yaml

    try:
        data = read_yaml(Path(name))
    except ConfigError:
        return False  # reported when loaded as a scenario
    return "scenarios" in data and not {"duration_s", "cluster", "slos"} & set(data)


def _validate_suite(name: str, args: argparse.Namespace, console: Console) -> dict[str, object]:
    from harness.gate.suite_config import load_suite

    if args.overrides:
        raise ConfigError([f"{name}: --set: expected no --set with a suite file (each entry carries its own set:)"])
    resolved = load_suite(name, strict=args.strict)
    warnings = [f"{name}: scenarios.{e.index}: {line}" for e in resolved.entries
                for line in config_warnings(e.scenario, e.scenario_file)]
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    console.print(f"{name}: ok (suite {resolved.suite.name}, {len(resolved.entries)} scenarios)", highlight=False)
    return {"file": name, "ok": True, "suite": resolved.suite.name, "scenarios": len(resolved.entries),
            "warnings": warnings}


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    files = []
    for name in args.files:
        try:
            if _is_suite(name):
                files.append(_validate_suite(name, args, console))
                continue
            scenario = load_scenario(name, args.overrides, strict=args.strict)
        except ConfigError as exc:
            files.append({"file": name, "ok": False, "errors": exc.lines})
            for line in exc.lines:
                print(line, file=sys.stderr)
            continue
        warnings = config_warnings(scenario, name)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        files.append({"file": name, "ok": True, "scenario": scenario.name, "slos": len(scenario.slos),
                      "warnings": warnings})
        console.print(f"{name}: ok ({scenario.name}, {len(scenario.slos)} SLOs)")
    ok = all(f["ok"] for f in files)
    if args.json_out is not None:
        args.json_out.emit({"command": "validate", "ok": ok, "files": files})
    return EXIT_PASSED if ok else EXIT_USAGE


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    overrides = [*args.overrides, *seed_override(args.seed)]
    try:
        scenario = load_scenario(args.scenario, overrides, strict=args.strict)
    except ConfigError as exc:
        return _config_error(args, exc, "run")
    if args.fail_fast:
        from harness.slo.certain import with_fail_fast

        scenario = with_fail_fast(scenario)
    from harness.report.run_results import RunResults
    from harness.run.runner import Runner  # imports Ray: only once the config is valid

    try:
        runner = Runner(scenario=scenario, scenario_file=args.scenario, results_root=args.results,
                        reporter=RunResults(), overrides=overrides, console=console,
                        metrics_port=args.metrics_port, release=args.label)
    except OSError as exc:
        print(f"{args.results}: expected a writable results directory ({exc})", file=sys.stderr)
        return EXIT_INFRA
    outcome = runner.run()
    export_run(outcome, args.openmetrics, args.pushgateway, console)
    return _report_run(args, outcome, console)


def cmd_reproduce(args: argparse.Namespace, console: Console) -> int:
    """Rerun <run>/scenario.yaml: the resolved scenario, seed included. The run folder may
    be a local one or one downloaded from CI: its paths are the repository's (relative to
    the working folder) and its Serve config is the copy beside it."""
    try:
        run_dir = resolve_run(args.run, args.results or DEFAULT_RESULTS)
    except ReportError as exc:
        return _usage(args, "reproduce", str(exc))
    recorded = run_dir / "scenario.yaml"
    if not recorded.is_file():
        return _usage(args, "reproduce", f"{recorded}: expected the resolved scenario of a recorded run")
    try:
        scenario = load_scenario(recorded, recorded=True)
    except ConfigError as exc:
        return _config_error(args, exc, "reproduce")
    from harness.report.run_results import RunResults
    from harness.run.runner import Runner

    console.print(f"reproducing {run_dir.name}: scenario {scenario.name}, seed {scenario.seed}")
    results = args.results or run_dir.parent
    runner = Runner(scenario=scenario, scenario_file=str(recorded), results_root=results,
                    reporter=RunResults(), console=console)
    runner.ctx.artifacts.reproduces = run_dir.name
    outcome = runner.run()
    if args.json_out is not None:
        args.json_out.emit(run_document(outcome) | {"command": "reproduce", "reproduces": run_dir.name})
    return outcome.exit_code


def _usage(args: argparse.Namespace, command: str, message: str) -> int:
    """Bad usage: one line on stderr (and the --json document), exit 2."""
    print(message, file=sys.stderr)
    if getattr(args, "json_out", None) is not None:
        args.json_out.emit({"command": command, "status": "invalid", "exit_code": EXIT_USAGE,
                            "errors": [message]})
    return EXIT_USAGE


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "reproduce": cmd_reproduce,
    "calibrate": calibrate_cmd.cmd_calibrate,
    "report": cmd_report,
    "suite": suite_cmd.cmd_suite,
    "history": history_cmd.cmd_history,
    "baseline": baseline_cmd.cmd_baseline,
    "bisect": bisect_cmd.cmd_bisect,
    "cleanup": cmd_cleanup,
    "compare": compare.cmd_compare,
    "init": cmd_init,
    "schema": cmd_schema,
    "completion": cmd_completion,
}


def main(argv: list[str] | None = None) -> int:
    # Ray reads this once, when first imported: set it before anything imports ray.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    args = build_parser().parse_args(argv)
    if not getattr(args, "json", False):
        args.json_out = None
        return COMMANDS[args.command](args, Console())
    with JsonStdout() as out:
        args.json_out = out
        return COMMANDS[args.command](args, Console(stderr=True))


def entry() -> None:
    """The `harness` command: main(), then a quick exit (harness.procs.quick_exit)."""
    from harness.procs.quick_exit import exit_now

    exit_now(main())


if __name__ == "__main__":
    entry()
