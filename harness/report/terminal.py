"""The verdict table on the terminal, readable in an 80-column CI log: short cells in the
table, each failing verdict's full why-line below it (never wrapped inside a cell)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from harness.model.outcome import CONFIG_ERROR, RunOutcome, format_value


def ci_table(title: str) -> Table:
    """A table for a CI log: a rule under the header, no outer frame, no edge padding."""
    # min_width: a title longer than a narrow table would wrap; up to 80 columns it must not
    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                 pad_edge=False, collapse_padding=True, min_width=min(len(title), 80))


def print_rows(console: Console, title: str, headers: list[str], rows: list[list[str]],
               styles: list[str | None] | None = None) -> None:
    """A table when it fits the console's width with no cell broken; otherwise one block
    per row (the first cell, then `header value` pairs that wrap at spaces, never inside
    a value), so a CI log at 80 columns never shows `baseli|ne` or `934.8m|s`."""
    styles = styles or [None] * len(rows)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if sum(widths) + 2 * (len(widths) - 1) <= console.width:
        table = ci_table(title)
        for header in headers:
            table.add_column(header, no_wrap=True)
        for row, style in zip(rows, styles, strict=True):
            table.add_row(*row, style=style)
        console.print(table)
        return
    console.print(title, style="italic", highlight=False, markup=False)
    for row, style in zip(rows, styles, strict=True):
        console.print(row[0], style=f"bold {style or ''}".strip(), highlight=False, markup=False)
        pairs = [f"{h} {v}" for h, v in zip(headers[1:], row[1:], strict=True)]
        for line in pack(pairs, console.width - 2):
            console.print("  " + line, style=style or "", highlight=False, markup=False, soft_wrap=True)


def pack(items: list[str], width: int, gap: str = "   ") -> list[str]:
    """Items joined into lines of at most `width` (an item longer than that on its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(gap) + len(item) <= width:
            lines[-1] += gap + item
        else:
            lines.append(item)
    return lines


def verdict_table(outcome: RunOutcome) -> Table:
    table = ci_table(f"{outcome.scenario_name}  (seed {outcome.seed}, run {outcome.run_id})")
    table.add_column("SLO", overflow="fold")
    table.add_column("window", overflow="fold")
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("bound", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for v in outcome.verdicts:
        result = "[green]PASS[/]" if v.passed else "[red]FAIL[/]"
        if v.inconclusive:
            result += " [yellow]?[/]"  # the interval line below says why
        table.add_row(v.name, v.window, format_value(v.measured, v.unit),
                      f"{v.op} {format_value(v.bound, v.unit)}", result)
    return table


def print_verdicts(console: Console, outcome: RunOutcome) -> None:
    console.print(verdict_table(outcome))
    for v in outcome.verdicts:
        # Each interval and outcome in one line (`?` in the table: inconclusive).
        if v.interval or v.decided_at_s is not None:
            console.print(v.interval_line(), markup=False, soft_wrap=True, highlight=False,
                          style="yellow" if v.inconclusive else None)
    for v in outcome.verdicts:
        if not v.passed:  # the why-line: 80 columns at most; the full text is in JUnit and summary.json
            console.print(v.line(), style="red", markup=False, soft_wrap=True, highlight=False)
    style = {"passed": "bold green", "failed": "bold red", "error": "bold yellow"}[outcome.status]
    console.print(f"[{style}]{outcome.status.upper()}[/] exit {outcome.exit_code}  results: {outcome.run_dir}",
                  soft_wrap=True, highlight=False)
    if outcome.error:
        # One log line (whitespace collapsed), printed whole: the log viewer wraps it.
        what = "invalid config" if outcome.error_kind == CONFIG_ERROR else f"infrastructure error ({outcome.error_kind})"
        console.print(" ".join(f"{what}: {outcome.error}".split()), style="yellow", markup=False,
                      soft_wrap=True, highlight=False)
    for note in outcome.notes:
        console.print(f"[dim]note: {note}[/]", soft_wrap=True, highlight=False)
    if outcome.status != "passed":
        console.print(f"reproduce: {outcome.reproduce_command}", soft_wrap=True, highlight=False)
