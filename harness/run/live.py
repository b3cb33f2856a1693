"""The live view: where a run is, on the terminal, while it runs.

A RunComponent that tails the run's timeline streams incrementally (only the bytes
appended since the last look) on its own thread at about 2 Hz, so it never slows the
runner's loop. On a terminal it draws a rich panel in place; when stdout is not a
terminal (CI logs) it prints one plain line at a steady pace instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from harness.measure import stats
from harness.measure.chaos_events import describe_chaos, is_chaos_event
from harness.measure.records import Chaos, Dropped, Phase, Request, Sample, WorkloadRecord
from harness.measure.timeline import TIMELINE_DIR
from harness.model.context import RunContext

RATE_WINDOW_S = 5.0
# Request records reach their stream after the response and a flush (~0.25 s), stamped
# with the send time: rates are measured over a window that ends this far back.
RATE_LAG_S = 1.0
HIDDEN_PHASES = ("run",)
# Where the progress clock starts: the load, or a workload-only run's drive.
DRIVE_PHASES = ("load", "workloads")
# Fields of a workload's progress shown, in this order, when it has them (`lost` only in
# its result: until then an unanswered task is pending, not lost).
WORKLOAD_FIELDS = ("ok", "submitted", "planned", "failed", "acknowledged", "failed_calls", "exit_code")


class StreamTail:
    """Reads the complete records appended to one JSON-lines stream since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        if not data:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the rest
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("t"), (int, float)):
                records.append(record)
        return records


class TimelineTail:
    """Tails every stream of a run's timeline folder, including streams that appear later."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._tails: dict[Path, StreamTail] = {}

    def read_new(self) -> list[dict[str, Any]]:
        if self.folder.is_dir():
            for path in self.folder.glob("*.jsonl"):
                if path not in self._tails:
                    self._tails[path] = StreamTail(path)
        records: list[dict[str, Any]] = []
        for tail in self._tails.values():
            records.extend(tail.read_new())
        return records


@dataclass(kw_only=True)
class LiveSnapshot:
    now: float
    phase: str
    elapsed_s: float | None  # since load started
    planned_s: float
    offered_rps: float | None
    sent_rps: float | None  # requests made, whatever the outcome
    ok_rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    errors: int
    shed: int
    dropped: int
    deployments: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    nodes_alive: int | None = None
    nodes_dead: int = 0
    last_chaos: str | None = None
    last_chaos_age_s: float | None = None
    has_requests: bool = True  # False: a workload-only run (no app, no load)
    workloads: dict[str, str] = field(default_factory=dict)  # name -> its latest progress

    @property
    def progress(self) -> float | None:
        if self.elapsed_s is None or self.planned_s <= 0:
            return None
        return max(0.0, min(1.0, self.elapsed_s / self.planned_s))


class LiveState:
    """What the view shows, folded from timeline records as they arrive (bounded memory)."""

    def __init__(self, planned_s: float, config_targets: dict[str, int] | None = None, has_requests: bool = True):
        self.planned_s = planned_s
        self.has_requests = has_requests
        self.workloads: dict[str, str] = {}
        self.config_targets = dict(config_targets or {})
        # (send time, the final request's record; None: a dropped send) of recent sends only
        self._recent: deque[tuple[float, dict[str, Any] | None]] = deque()
        self._open: dict[str, float] = {}
        self._closed: set[str] = set()
        self.load_started: float | None = None
        self.requests = self.errors = self.shed = self.dropped = 0
        self._sample: dict[str, Any] | None = None
        self._chaos: str | None = None
        self._chaos_t = 0.0
        self._chaos_targets: dict[str, str] = {}

    def ingest(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            kind = record.get(Request.kind)
            if kind == Request.KIND:
                self._ingest_request(record)
            elif kind == Dropped.KIND:  # a send the open-model generator missed: offered, never sent
                self.dropped += 1
                self._recent.append((record[Dropped.t], None))
            elif kind == Phase.KIND:
                self._ingest_phase(record)
            elif kind == Sample.KIND:
                if self._sample is None or record[Sample.t] >= self._sample[Sample.t]:
                    self._sample = record
            elif kind == WorkloadRecord.KIND and record.get(WorkloadRecord.event) in ("progress", "result"):
                self.workloads[str(record.get(WorkloadRecord.name))] = describe_workload(record)
            elif kind == Chaos.KIND and is_chaos_event(record):
                text = describe_chaos(record, self._chaos_targets)
                if self._chaos is None or record[Chaos.t] >= self._chaos_t:
                    self._chaos, self._chaos_t = text, record[Chaos.t]

    def _ingest_request(self, record: dict[str, Any]) -> None:
        if not record.get(Request.final, True):
            return  # a retried attempt is not a request of its own
        outcome = stats.outcome_of(record)
        self.requests += 1
        self.errors += outcome in stats.ERROR_OUTCOMES
        self.shed += outcome == stats.SHED
        self._recent.append((record[Request.t], record))

    def _ingest_phase(self, record: dict[str, Any]) -> None:
        name = str(record.get(Phase.name))
        if record.get(Phase.edge) == "start":
            self._open[name] = record[Phase.t]
            if name in DRIVE_PHASES and self.load_started is None:
                self.load_started = record[Phase.t]
        elif record.get(Phase.edge) == "end":
            self._open.pop(name, None)
            self._closed.add(name)

    def _phase(self) -> str:
        shown = [n for n, _ in sorted(self._open.items(), key=lambda kv: kv[1]) if n not in HIDDEN_PHASES]
        if shown:
            return " > ".join(shown)
        if self._closed.intersection(DRIVE_PHASES):
            return "finishing"
        return "starting"

    def snapshot(self, now: float) -> LiveSnapshot:
        window_end = now - RATE_LAG_S
        window_start = window_end - RATE_WINDOW_S
        if self.load_started is not None:
            window_start = max(window_start, self.load_started)
        while self._recent and self._recent[0][0] < window_end - RATE_WINDOW_S - 5.0:
            self._recent.popleft()  # bounded: only the last ~11 s are kept
        seen = [record for t, record in self._recent if window_start <= t < window_end]
        finals = [record for record in seen if record is not None]
        span = window_end - window_start
        rates_known = span >= 0.5 and self.load_started is not None
        figures = stats.request_stats(finals, span, dropped=len(seen) - len(finals))
        return LiveSnapshot(
            now=now,
            phase=self._phase(),
            elapsed_s=None if self.load_started is None else now - self.load_started,
            planned_s=self.planned_s,
            offered_rps=figures["offered_rps"] if rates_known else None,
            sent_rps=figures["sent_rps"] if rates_known else None,
            ok_rps=figures["ok_rps"] if rates_known else None,
            p50_ms=figures["p50_ms"],
            p99_ms=figures["p99_ms"],
            requests=self.requests,
            errors=self.errors,
            shed=self.shed,
            dropped=self.dropped,
            deployments=self._deployments(),
            nodes_alive=self._sample.get(Sample.nodes_alive) if self._sample else None,
            nodes_dead=int((self._sample or {}).get(Sample.nodes_dead) or 0),
            last_chaos=self._chaos,
            last_chaos_age_s=now - self._chaos_t if self._chaos else None,
            has_requests=self.has_requests,
            workloads=dict(self.workloads),
        )

    def _deployments(self) -> dict[str, tuple[int, int | None]]:
        if self._sample is None or not isinstance(self._sample.get(Sample.deployments), dict):
            return {}
        out = {}
        for name, dep in sorted(self._sample[Sample.deployments].items()):
            if not isinstance(dep, dict):
                continue
            target = dep.get("target", self.config_targets.get(name))
            out[name] = (int(dep.get("running", 0)), int(target) if isinstance(target, (int, float)) else None)
        return out


def describe_workload(record: dict[str, Any]) -> str:
    """`ok 40/120 lost 0`: a workload's latest numbers, read loosely (any kind of workload)."""
    parts = [f"{key} {record[key]}" for key in WORKLOAD_FIELDS if isinstance(record.get(key), (int, float))]
    if record.get(WorkloadRecord.event) == "result":
        if isinstance(record.get("lost"), (int, float)):
            parts.append(f"lost {record['lost']}")
        parts.append("passed" if record.get(WorkloadRecord.passed) else "FAILED")
    return " ".join(parts) or str(record.get(WorkloadRecord.event, ""))


def _workloads(snap: LiveSnapshot) -> str:
    return "; ".join(f"{name}: {text}" for name, text in sorted(snap.workloads.items())) or "-"


def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def _replicas(snap: LiveSnapshot) -> str:
    parts = [f"{name} {running}/{target}" if target is not None else f"{name} {running}"
             for name, (running, target) in snap.deployments.items()]
    return ", ".join(parts) or "-"


def render_line(snap: LiveSnapshot) -> str:
    """One plain line for logs that are not a terminal."""
    progress = "" if snap.progress is None else f" {snap.progress * 100:3.0f}%"
    elapsed = "" if snap.elapsed_s is None else f" {snap.elapsed_s:.0f}/{snap.planned_s:.0f}s"
    if snap.elapsed_s is not None and snap.planned_s <= 0:  # a drive of unknown length (workloads)
        elapsed = f" {snap.elapsed_s:.0f}s"
    chaos = snap.last_chaos or "none"
    if snap.last_chaos_age_s is not None:
        chaos += f" ({snap.last_chaos_age_s:.0f}s ago)"
    dropped = f" dropped {snap.dropped}" if snap.dropped else ""
    if not snap.has_requests:
        return (f"[live] {snap.phase}{progress}{elapsed} | workloads {_workloads(snap)} | "
                f"nodes {_num(snap.nodes_alive, 'd')} | chaos {chaos}")
    return (
        f"[live] {snap.phase}{progress}{elapsed} | offered {_num(snap.offered_rps, '.1f', '/s')} "
        f"sent {_num(snap.sent_rps, '.1f', '/s')} ok {_num(snap.ok_rps, '.1f', '/s')} | "
        f"p50 {_num(snap.p50_ms, '.1f', 'ms')} p99 {_num(snap.p99_ms, '.1f', 'ms')} | "
        f"requests {snap.requests} errors {snap.errors} shed {snap.shed}{dropped} | "
        f"replicas {_replicas(snap)} | nodes {_num(snap.nodes_alive, 'd')} | chaos {chaos}"
    )


def render_panel(snap: LiveSnapshot, title: str) -> Panel:
    """The rich panel drawn in place on a terminal."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    progress = Table.grid(padding=(0, 1))
    if snap.progress is not None:
        label = f"{snap.progress * 100:3.0f}%  {snap.elapsed_s:5.1f}s / {snap.planned_s:.0f}s"
    elif snap.elapsed_s is not None and snap.planned_s <= 0:  # a drive of unknown length (workloads)
        label = f"{snap.elapsed_s:5.1f}s, until the workloads end"
    else:
        label = ""
    progress.add_row(ProgressBar(total=1.0, completed=snap.progress or 0.0, width=36), label)
    grid.add_row("phase", Text(snap.phase, style="bold"))
    grid.add_row("progress", progress)
    if not snap.has_requests:  # a workload-only run: no requests, no replicas to show
        grid.add_row("workloads", _workloads(snap))
        return _panel_tail(grid, snap, title)
    grid.add_row("rate", f"offered {_num(snap.offered_rps, '.1f', ' req/s')}   "
                         f"sent {_num(snap.sent_rps, '.1f', ' req/s')}   "
                         f"ok {_num(snap.ok_rps, '.1f', ' req/s')}")
    grid.add_row("latency", f"p50 {_num(snap.p50_ms, '.1f', ' ms')}   p99 {_num(snap.p99_ms, '.1f', ' ms')}"
                            f"   [dim](last {RATE_WINDOW_S:g}s)[/]")
    err_style = "red" if snap.errors else "green"
    shed_style = "yellow" if snap.shed else "green"
    dropped = f"   dropped [red]{snap.dropped}[/]" if snap.dropped else ""
    grid.add_row("requests", f"{snap.requests}   errors [{err_style}]{snap.errors}[/]   "
                             f"shed [{shed_style}]{snap.shed}[/]{dropped}")
    grid.add_row("replicas", _replicas(snap) + "   [dim](running/target)[/]")
    if snap.workloads:
        grid.add_row("workloads", _workloads(snap))
    return _panel_tail(grid, snap, title)


def _panel_tail(grid: Table, snap: LiveSnapshot, title: str) -> Panel:
    nodes = _num(snap.nodes_alive, "d") + (f" alive, [red]{snap.nodes_dead} dead[/]" if snap.nodes_dead else " alive")
    grid.add_row("nodes", nodes)
    chaos = snap.last_chaos or "[dim]none yet[/]"
    if snap.last_chaos_age_s is not None:
        chaos = f"[magenta]{snap.last_chaos}[/] ({snap.last_chaos_age_s:.0f}s ago)"
    grid.add_row("chaos", chaos)
    return Panel(grid, title=title, title_align="left", border_style="blue", expand=False)


class LiveView:
    """RunComponent: draws the live view from its own thread until stop()."""

    name = "live_view"

    def __init__(self, refresh_hz: float = 2.0, plain_every_s: float = 5.0, console: Console | None = None):
        self.period_s = 1.0 / refresh_hz
        self.plain_every_s = plain_every_s
        self.console = console
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self.updates = 0
        self.failures = 0
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def start(self, ctx: RunContext) -> None:
        console = self.console or ctx.console
        self.console = console
        scenario = ctx.scenario
        deployments = scenario.app.deployments if scenario.app is not None else []
        targets = {d.name: d.num_replicas for d in deployments if d.num_replicas is not None}
        # A workload-only run lasts until its workloads end: no planned length to show.
        planned = 0.0 if scenario.workload_only else scenario.duration_s + scenario.cooldown_s
        self.state = LiveState(planned, targets, has_requests=not scenario.workload_only)
        self.tail = TimelineTail(ctx.run_dir / TIMELINE_DIR)
        self.title = f"{scenario.name}  seed {scenario.seed}  {ctx.run_id}"
        if console.is_terminal and not console.is_dumb_terminal:
            self._live = Live(console=console, auto_refresh=False, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="live-view", daemon=True)
        self._thread.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def _loop(self) -> None:
        started = time.monotonic()
        next_plain = started + self.plain_every_s
        while not self._stop.wait(self.period_s):
            plain_due = time.monotonic() >= next_plain
            if plain_due:
                next_plain += self.plain_every_s
            self._refresh(print_plain=plain_due)
            self.cpu_s = time.thread_time()
            self.wall_s = time.monotonic() - started

    def _refresh(self, print_plain: bool) -> None:
        try:
            self.state.ingest(self.tail.read_new())
            snap = self.state.snapshot(time.time())
            if self._live is not None:
                self._live.update(render_panel(snap, self.title), refresh=True)
            elif print_plain and self.console is not None:
                self.console.print(render_line(snap), markup=False, highlight=False, soft_wrap=True)
            self.updates += 1
        except Exception:  # the view must never end or slow a run: count and go on
            self.failures += 1

    def stop(self, ctx: RunContext) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._refresh(print_plain=True)  # the last state stays on screen / in the log
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:
                self.failures += 1
            self._live = None

    def metrics(self) -> dict[str, Any]:
        pct = 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0
        return {
            "live_view_updates": self.updates,
            "live_view_cpu_s": round(self.cpu_s, 3),
            "live_view_cpu_pct": round(pct, 2),
        }
