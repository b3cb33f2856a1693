"""The verdict table on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.outcome import CONFIG_ERROR, RunOutcome
from harness.slo import format_value, one_line


def print_verdicts(console: Console, outcome: RunOutcome) -> None:
    table = Table(title=f"{outcome.scenario_name}  (seed {outcome.seed}, run {outcome.run_id})")
    table.add_column("SLO")
    table.add_column("window")
    table.add_column("measured", justify="right")
    table.add_column("bound", justify="right")
    table.add_column("result")
    for v in outcome.verdicts:
        result = "[green]PASS[/]" if v.passed else "[red]FAIL[/]"
        table.add_row(v.name, v.window, format_value(v.measured, v.unit),
                      f"{v.op} {format_value(v.bound, v.unit)}", result)
    console.print(table)
    # One line per failure, 80 columns at most, so a CI log shows the cause where it
    # is read; the full text is in junit.xml and summary.json.
    for v in outcome.verdicts:
        if not v.passed:
            console.print(v.line(), style="red", markup=False, highlight=False, soft_wrap=True)
    style = {"passed": "bold green", "failed": "bold red", "error": "bold yellow"}[outcome.status]
    console.print(f"[{style}]{outcome.status.upper()}[/] exit {outcome.exit_code}  results: {outcome.run_dir}")
    if outcome.error:
        what = "invalid config" if outcome.error_kind == CONFIG_ERROR else f"infrastructure error ({outcome.error_kind})"
        console.print(one_line(f"{what}: {outcome.error}"),
                      style="yellow", markup=False, highlight=False, soft_wrap=True)
    for note in outcome.notes:
        console.print(f"[dim]note: {note}[/]")
    if outcome.status != "passed":
        console.print(f"reproduce: {outcome.reproduce_command}")
