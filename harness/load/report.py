"""Run component that reports the load per window: on the terminal and in summary.json.

At teardown (the load processes have exited, their streams are complete) it reads
the timeline back and tabulates, for the `load` window and each window of the
load's shape (baseline, burst-1, recovery-1, ...): p50/p90/p99 with their sample
counts, offered and sent rate, ok, shed, error and dropped counts.
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


class LoadReport:
    name = "load_report"

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def start(self, ctx: RunContext) -> None:
        pass

    def tick(self, ctx: RunContext) -> None:
        pass

    def stop(self, ctx: RunContext) -> None:
        try:
            timeline = Timeline.load(ctx.run_dir)
            self.rows = [window_stats(timeline, w) for w in load_windows(timeline)]
        except Exception as exc:  # a report must never break teardown
            ctx.artifacts.load_windows_error = f"{type(exc).__name__}: {exc}"
            return
        if not self.rows:
            return
        ctx.artifacts.load_windows = self.rows
        load = ctx.scenario.load
        ctx.console.print(build_table(self.rows, f"load by window ({load.model} model, {load.shape.kind} shape)"))
        ctx.console.print(f"[dim]{LEGEND}[/]")
        for row in self.rows:
            for warning in row["warnings"]:
                ctx.console.print(f"[yellow]warning: window {row['window']}: {warning}[/]")

    def metrics(self) -> dict[str, Any]:
        load = next((r for r in self.rows if r["window"] == "load"), None)
        if load is None:
            return {}
        return {
            "load_offered_rps": load["offered_rps"],
            "load_sent_rps": load["sent_rps"],
            "load_dropped": load["dropped"],
            "load_shed": load["shed"],
            "load_errors": load["errors"],
            "load_retries": load["retries"],
        }
