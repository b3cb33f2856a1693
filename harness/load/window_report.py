"""The load per window, on the terminal and in summary.json.

After the run (every stream is complete) the runner hands over the timeline it read once,
and this tabulates, for the `load` window and each window of the load's shape (baseline,
burst-1, recovery-1, ...): p50/p90/p99 with their sample counts, offered and sent rate,
ok, shed, error and dropped counts.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from harness.measure.stats import load_windows, window_stats
from harness.measure.timeline import Timeline
from harness.model.context import RunContext


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


# Short headers keep the table inside 80 columns (CI logs); p90 and more are in summary.json.
COLUMNS = ("window", "s", "reqs", "offer/s", "sent/s", "p50 ms", "p99 ms", "ok", "shed", "err", "drop", "retry")
LEGEND = ("offer/s: sends scheduled per second (open) or made (closed); sent/s: requests made; "
          "latency from the intended send time; drop: sends the generator could not make on time")


def build_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "window" else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            row["window"], f"{row['seconds']:.0f}", str(row["requests"]), _num(row["offered_rps"]),
            _num(row["sent_rps"]), _num(row["p50_ms"]), _num(row["p99_ms"]),
            str(row["ok"]), str(row["shed"]), str(row["errors"]), str(row["dropped"]), str(row["retries"]),
        )
    return table


def report_load_windows(ctx: RunContext, timeline: Timeline, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Tabulate the finished run's load by window: print the table, store it as
    `artifacts.load_windows` and add the `load` window's numbers to `metrics` (the run's
    metrics in summary.json). Returns the rows ([] without a load)."""
    try:
        rows = [window_stats(timeline, w) for w in load_windows(timeline)]
    except Exception as exc:  # a report must never cost the verdict
        ctx.artifacts.load_windows_error = f"{type(exc).__name__}: {exc}"
        return []
    if not rows:
        return rows
    ctx.artifacts.load_windows = rows
    load = ctx.scenario.load
    ctx.console.print(build_table(rows, f"load by window ({load.model} model, {load.shape.kind} shape)"))
    ctx.console.print(f"[dim]{LEGEND}[/]")
    for row in rows:
        for warning in row["warnings"]:
            ctx.console.print(f"[yellow]warning: window {row['window']}: {warning}[/]")
    whole = next((r for r in rows if r["window"] == "load"), None)
    if whole is not None:
        metrics.update(
            load_offered_rps=whole["offered_rps"],
            load_sent_rps=whole["sent_rps"],
            load_dropped=whole["dropped"],
            load_shed=whole["shed"],
            load_errors=whole["errors"],
            load_retries=whole["retries"],
        )
    return rows
