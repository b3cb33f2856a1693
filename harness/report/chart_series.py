"""Time series of one run, read from its timeline, for the HTML report's charts.

Times are seconds since the start of the run window. Requests are bucketed by
their intended send time; samples (recorder) and markers (phases, chaos) keep
their own times. Nothing here measures anything new: it only regroups records.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.measure import memory_series, ray_metrics, stats
from harness.measure.chaos_events import (
    NAME_KEYS,
    TARGET_KEYS,
    describe_chaos,
    first_text,
    is_chaos_event,
)
from harness.measure.records import (
    Chaos,
    Dropped,
    Error,
    Memory,
    Nodes,
    RayMetrics,
    Request,
    Sample,
    WorkloadRecord,
)
from harness.measure.timeline import Timeline

MAX_BUCKETS = 600  # a 30-minute soak still draws ~600 points per line
PERCENTILES = (50.0, 90.0, 99.0)
# Windows that say where the run was, not what the load did: shown in the phase table only.
SETUP_WINDOWS = ("run",)


@dataclass(kw_only=True)
class Series:
    label: str
    points: list[tuple[float, float]]
    color: str
    dashed: bool = False
    step: bool = False  # a state that holds until the next sample (replicas, nodes)
    halo: bool = False  # a wide faint line under the others (targets), visible where they meet


@dataclass(kw_only=True)
class Bound:
    """An SLO drawn on the chart it reads: its window, and its bound where the chart's axis
    is in the bound's unit (`value`; None: the window only, e.g. a time-to-N-replicas SLO)."""

    label: str
    start: float
    end: float
    value: float | None
    passed: bool


@dataclass(kw_only=True)
class Chart:
    key: str
    title: str
    unit: str
    series: list[Series] = field(default_factory=list)
    bounds: list[Bound] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(s.points for s in self.series)


@dataclass
class Band:
    """A named window of the timeline, drawn as a shaded band."""

    name: str
    start: float
    end: float


@dataclass(kw_only=True)
class Marker:
    """A point event (chaos, infrastructure error), drawn as a vertical line."""

    number: int
    t: float
    kind: str
    label: str
    detail: str


@dataclass(kw_only=True)
class RunSeries:
    t0: float
    x_start: float  # charts begin shortly before the first measurement (setup is in the phase table)
    duration: float
    bucket_s: float
    charts: list[Chart]
    bands: list[Band]
    markers: list[Marker]


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def bucket_size(duration_s: float) -> float:
    """One-second buckets, wider for long runs so a chart keeps at most MAX_BUCKETS points."""
    return float(max(1, math.ceil(duration_s / MAX_BUCKETS)))


def fixed_targets(config: dict[str, Any] | None) -> dict[str, float]:
    """num_replicas of each fixed-size deployment in a resolved scenario (summary.json's config)."""
    app = (config or {}).get("app") or {}
    return {
        str(d["name"]): float(d["num_replicas"])
        for d in app.get("deployments") or []
        if isinstance(d, dict) and isinstance(d.get("num_replicas"), int) and d.get("name")
    }


def build_series(timeline: Timeline, config_targets: dict[str, float] | None = None) -> RunSeries:
    """The charts of a run; config_targets stand in for deployments whose samples carry no target."""
    run = timeline.window("run")
    t0 = run.start if run is not None else 0.0
    duration = run.duration if run is not None else 0.0
    bucket_s = bucket_size(duration)
    charts = [
        *_request_charts(timeline, t0, duration, bucket_s),
        _replica_chart(timeline, t0, config_targets or {}),
        _nodes_chart(timeline, t0),
        *_node_type_charts(timeline, t0),
        *_memory_charts(timeline, t0),
        *_workload_charts(timeline, t0),
        *ray_metric_charts(timeline, t0),
    ]
    if not has_load(timeline):  # a workload-only run: show what it has, not empty request charts
        charts = [c for c in charts if c.key not in ("rps", "latency", "errors", "replicas") or c.has_data]
        charts.append(_cpu_chart(timeline, t0))
    bands = [
        Band(w.name, w.start - t0, w.end - t0)
        for w in sorted(timeline.windows.values(), key=lambda w: (w.start, w.name))
        if w.name not in SETUP_WINDOWS
    ]
    marks = markers(timeline, t0)
    return RunSeries(t0=t0, x_start=_x_start(timeline, t0, marks), duration=duration, bucket_s=bucket_s, charts=charts, bands=bands, markers=marks)


def _x_start(timeline: Timeline, t0: float, marks: list[Marker]) -> float:
    """Where charts begin: a little before load, the first sample, request or marker."""
    firsts = [m.t for m in marks[:1]]
    load = timeline.window("load")
    if load is not None:
        firsts.append(load.start - t0)
    for records in (timeline.requests[:1], timeline.events_of(Sample)[:1]):
        firsts.extend(r[Sample.t] - t0 for r in records)
    return max(0.0, min(firsts, default=0.0) - 2.0)


def _request_charts(timeline: Timeline, t0: float, duration: float, bucket_s: float) -> list[Chart]:
    """Per bucket, harness.measure.stats.request_stats: the load report's numbers over one bucket."""
    n = max(1, math.ceil(duration / bucket_s))  # buckets from the run's start, so all charts align
    finals: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    dropped = [0] * n

    def bucket(record: dict[str, Any]) -> int | None:
        index = int((record[Request.t] - t0) // bucket_s)
        return index if 0 <= index < n else None

    for record in timeline.requests:
        index = bucket(record)
        if index is not None and record.get(Request.final, True):  # a retried attempt is not a request
            finals[index].append(record)
    for record in timeline.events_of(Dropped):  # open model: sends the generator missed
        index = bucket(record)
        if index is not None:
            dropped[index] += 1
    figures = [stats.request_stats(finals[i], bucket_s, dropped[i]) for i in range(n)]
    has_requests = bool(timeline.requests)

    def per_second(key: str) -> list[tuple[float, float]]:
        """A rate of the stats (`ok_rps`), or a count of them per second (`errors`)."""
        if not has_requests:
            return []
        values = (row[key] if key.endswith("_rps") else stats.rate(row[key], bucket_s) for row in figures)
        return [((i + 0.5) * bucket_s, float(v or 0.0)) for i, v in enumerate(values)]

    pct_series = []
    for pct, color in zip(PERCENTILES, ("#2ca02c", "#ff7f0e", "#d62728"), strict=True):
        key = f"p{pct:g}_ms"
        points = [((i + 0.5) * bucket_s, row[key]) for i, row in enumerate(figures) if row[key] is not None]
        pct_series.append(Series(label=f"p{pct:g}", points=points, color=color))
    errors = [
        Series(label="errors", points=per_second("errors"), color="#d62728"),
        Series(label="shed (503)", points=per_second("shed"), color="#ff7f0e"),
    ]
    if any(dropped):
        errors.append(Series(label="dropped by the generator", points=per_second("dropped"), color="#7f7f7f", dashed=True))
    return [
        Chart(key="rps", title="Offered, sent and ok rate", unit="req/s", series=[
            Series(label="ok", points=per_second("ok_rps"), color="#2ca02c"),
            Series(label="sent", points=per_second("sent_rps"), color="#1f77b4"),
            Series(label="offered", points=per_second("offered_rps"), color="#444444", dashed=True),
        ]),
        Chart(key="latency", title="Latency percentiles (every final request)", unit="ms", series=pct_series),
        Chart(key="errors", title="Errors, shed and dropped sends", unit="req/s", series=errors),
    ]


def has_load(timeline: Timeline) -> bool:
    """Whether the run sent requests (a workload-only run, `app: none`, has no load)."""
    return bool(timeline.requests) or timeline.window("load") is not None


def _cpu_chart(timeline: Timeline, t0: float) -> Chart:
    """Total and available CPU: resources reclaimed after a workload is where they meet again."""
    total, available = [], []
    for sample in _samples(timeline):
        amounts = sample.get(Sample.total_resources), sample.get(Sample.available_resources)
        if isinstance(amounts[0], dict) and isinstance(amounts[1], dict):
            total.append((sample[Sample.t] - t0, float(amounts[0].get("CPU", 0.0))))
            available.append((sample[Sample.t] - t0, float(amounts[1].get("CPU", 0.0))))
    return Chart(key="cpu", title="Cluster CPU: total and available", unit="CPU", series=[
        Series(label="total", points=total, color="#444444", step=True, halo=True),
        Series(label="available", points=available, color="#1f77b4", step=True),
    ])


def _samples(timeline: Timeline) -> list[dict[str, Any]]:
    return timeline.events_of(Sample)


def _target(deployment: dict[str, Any]) -> float | None:
    """The target replica count, if the recorder knows it (key names vary by Serve version)."""
    for key in ("target", "target_replicas", "target_num_replicas"):
        value = deployment.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _replica_chart(timeline: Timeline, t0: float, config_targets: dict[str, float]) -> Chart:
    running: dict[str, list[tuple[float, float]]] = defaultdict(list)
    target: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for sample in _samples(timeline):
        deployments = sample.get(Sample.deployments)
        if not isinstance(deployments, dict):
            continue
        for name, dep in deployments.items():
            if not isinstance(dep, dict):
                continue
            running[name].append((sample[Sample.t] - t0, float(dep.get("running", 0))))
            wanted = _target(dep)
            if wanted is not None:
                target[name].append((sample[Sample.t] - t0, wanted))
    chart = Chart(key="replicas", title="Replicas per deployment (running; target as a wide faint line)", unit="replicas")
    for index, name in enumerate(sorted(running)):
        color = PALETTE[index % len(PALETTE)]
        if target.get(name):
            chart.series.append(Series(label=f"{name} target", points=target[name], color=color, step=True, halo=True))
        elif name in config_targets:  # fixed num_replicas: the target is the config's
            ends = [(running[name][0][0], config_targets[name]), (running[name][-1][0], config_targets[name])]
            chart.series.append(Series(label=f"{name} target (num_replicas)", points=ends, color=color, halo=True))
        chart.series.append(Series(label=f"{name} running", points=running[name], color=color, step=True))
    return chart


def _nodes_chart(timeline: Timeline, t0: float) -> Chart:
    alive, dead = [], []
    for sample in _samples(timeline):
        if isinstance(sample.get(Sample.nodes_alive), (int, float)):
            alive.append((sample[Sample.t] - t0, float(sample[Sample.nodes_alive])))
            dead.append((sample[Sample.t] - t0, float(sample.get(Sample.nodes_dead, 0) or 0)))
    return Chart(key="nodes", title="Nodes alive", unit="nodes", series=[
        Series(label="alive", points=alive, color="#2ca02c", step=True),
        Series(label="dead", points=dead if any(v for _, v in dead) else [], color="#d62728", step=True),
    ])


def _node_type_charts(timeline: Timeline, t0: float) -> list[Chart]:
    """Autoscaling clusters (`nodes` records): per node type alive (solid) and pending
    (dashed), and the unmet demand the node SLOs judge (resource shapes waiting)."""
    records = timeline.events_of(Nodes)
    if not records:
        return []
    per_type: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    demand: list[tuple[float, float]] = []
    for record in records:
        t = record[Nodes.t] - t0
        for name, counts in (record.get(Nodes.types) or {}).items():
            if isinstance(counts, dict):
                for state in ("alive", "pending", "terminating"):
                    per_type[name][state].append((t, float(counts.get(state, 0) or 0)))
        shapes = record.get(Nodes.demand) or []
        demand.append((t, float(sum(pair[1] for pair in shapes
                                    if isinstance(pair, (list, tuple)) and len(pair) == 2
                                    and isinstance(pair[1], (int, float))))))
    chart = Chart(key="node_types", title="Nodes per type (alive; pending dashed) and unmet demand", unit="nodes")
    for index, name in enumerate(sorted(per_type)):
        color = PALETTE[index % len(PALETTE)]
        chart.series.append(Series(label=f"{name} alive", points=per_type[name]["alive"], color=color, step=True))
        if any(v for _, v in per_type[name]["pending"]):
            chart.series.append(Series(label=f"{name} pending", points=per_type[name]["pending"], color=color, dashed=True, step=True))
        if any(v for _, v in per_type[name]["terminating"]):
            chart.series.append(Series(label=f"{name} terminating", points=per_type[name]["terminating"], color="#7f7f7f",
                                       dashed=True, step=True))
    chart.series.append(Series(label="unmet demand (resource shapes)", points=demand if any(v for _, v in demand) else [],
                               color="#d62728", dashed=True, step=True))
    return [chart]


def _memory_charts(timeline: Timeline, t0: float) -> list[Chart]:
    """Memory (`memory` records): each role's average process, replicas per deployment
    instead of one `replica` line (what memory_growth judges), and the object store per node."""
    records = timeline.events_of(Memory)
    if not records:
        return []
    found = memory_series.subjects_in(timeline)
    deployments = found["deployments"]
    subjects = [r for r in memory_series.ROLES if r in found["roles"] and not (r == "replica" and deployments)]
    chart = Chart(key="memory", title="Resident memory: each role's average process (replicas per deployment)", unit="MB")
    for index, subject in enumerate([*deployments, *subjects]):
        points = [(t - t0, v) for t, v in memory_series.series(timeline, subject)]
        most = max((int((memory_series.entry_of(r, subject) or {}).get("n", 0)) for r in records), default=0)
        label = f"{subject} (replicas, up to {most})" if subject in deployments else f"{subject} (up to {most})"
        dashed = index >= len(PALETTE)  # more lines than colours: the rest dashed
        chart.series.append(Series(label=label, points=points, color=PALETTE[index % len(PALETTE)], dashed=dashed))
    charts = [chart]
    if found["nodes"]:
        store = Chart(key="object_store", title="Object store in use per node", unit="MB")
        for index, node in enumerate(found["nodes"]):
            points = [(r[Memory.t] - t0, float((r.get(Memory.object_store) or {})[node])) for r in records
                      if isinstance((r.get(Memory.object_store) or {}).get(node), (int, float))]
            store.series.append(Series(label=node, points=points, color=PALETTE[index % len(PALETTE)], step=True))
        charts.append(store)
    return charts


# Counters of a workload's progress worth a line (tasks: ok/failed/lost...; actors: acknowledged...).
_PROGRESS_SKIP = {"planned", "timeout_s", "pid", "seconds", "exit_code"}


def _workload_charts(timeline: Timeline, t0: float) -> list[Chart]:
    """One progress chart per workload that reports progress: each of its counters over time
    (done, failed, retried, lost, as the workload names them)."""
    counters: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for record in timeline.events_of(WorkloadRecord):
        if record.get(WorkloadRecord.event) not in ("progress", "result"):
            continue
        name = str(record.get(WorkloadRecord.name, "workload"))
        for key, value in record.items():
            if (key not in _PROGRESS_SKIP and key not in ("t", "kind", "name", "event")
                    and isinstance(value, (int, float)) and not isinstance(value, bool)):
                counters[name][key].append((record[WorkloadRecord.t] - t0, float(value)))
    charts = []
    for name in sorted(counters):
        chart = Chart(key=f"workload-{name}", title=f"Workload {name}: progress", unit="count")
        for index, key in enumerate(sorted(counters[name])):
            color = "#d62728" if key in ("lost", "failed", "wrong", "failed_calls") else PALETTE[index % len(PALETTE)]
            chart.series.append(Series(label=key, points=counters[name][key], color=color, step=True))
        charts.append(chart)
    return charts


# Labels every Ray series carries that say nothing about what it measures.
_RAY_NOISE_LABELS = frozenset({"SessionName", "Version", "NodeAddress", "Component", "WorkerId", "JobId"})


def ray_metric_charts(timeline: Timeline, t0: float) -> list[Chart]:
    """A chart per Ray family the timeline holds (the scraper keeps only those an SLO names).

    Gauges as scraped; counters (and a histogram's `_count`) as a rate between scrapes.
    One line per node and distinguishing labels.
    """
    lines: dict[str, dict[tuple, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for record in ray_metrics.scrapes(timeline):
        for name, labels, value in record.get(RayMetrics.samples) or []:
            if name.endswith(("_bucket", "_sum")):
                continue
            shown = tuple(sorted((k, str(v)) for k, v in labels.items() if k not in _RAY_NOISE_LABELS))
            key = (record.get(RayMetrics.node), shown)
            lines[name][key].append((record[RayMetrics.t] - t0, float(value)))
    charts = []
    for name, by_key in sorted(lines.items()):
        counter = name.endswith(("_total", "_count"))
        varying = _varying_labels([labels for _, labels in by_key])
        nodes = {node for node, _ in by_key}
        chart = Chart(key=f"ray-{name}", title=f"{name}{' (per second)' if counter else ''}", unit="/s" if counter else "")
        for k, ((node, labels), points) in enumerate(sorted(by_key.items(), key=lambda kv: str(kv[0]))):
            label = ", ".join(f"{a}={b}" for a, b in labels if a in varying)
            label = (f"{node} " if len(nodes) > 1 else "") + (label or name)
            chart.series.append(Series(label=label, points=_rates(points) if counter else points,
                                       color=PALETTE[k % len(PALETTE)], step=not counter))
        charts.append(chart)
    return charts


@dataclass(kw_only=True)
class ChaosRow:
    """One shot of a fault, as the report's chaos table shows it."""

    number: int
    at: float  # seconds since the run started (fired, or planned when it never fired)
    fault: str
    target: str
    outcome: str
    noticed_after: float | None
    events: list[tuple[float, str, str]]  # (seconds since start, event, readable detail)


def chaos_rows(timeline: Timeline, t0: float) -> list[ChaosRow]:
    """Every shot (`fault-N`) with its records folded: when it fired, what it hit, its outcome
    and how long the cluster took to notice; epoch times shown as seconds since the start."""
    shots: dict[str, list[dict[str, Any]]] = {}
    for record in timeline.events_of(Chaos):
        if record.get(Chaos.id) is not None:
            shots.setdefault(str(record[Chaos.id]), []).append(record)
    rows = []
    for number, (_shot, records) in enumerate(sorted(shots.items(), key=lambda kv: kv[1][0][Chaos.t]), 1):
        by_event = {str(r.get(Chaos.event)): r for r in records}
        fired = next((r for r in records if r.get(Chaos.actual_t) is not None), records[0])
        at = float(fired.get(Chaos.actual_t) or fired.get(Chaos.planned_t) or fired[Chaos.t]) - t0
        final = by_event.get("result") or records[-1]
        outcome = str(final.get(Chaos.outcome) or final.get(Chaos.event) or "")
        if "not_noticed" in by_event:
            outcome += ", not noticed"
        noticed = by_event.get("noticed")
        after = None
        if noticed is not None:
            after = noticed.get(Chaos.noticed_after_s)
            if after is None and noticed.get(Chaos.noticed_t) is not None and fired.get(Chaos.actual_t):
                after = float(noticed[Chaos.noticed_t]) - float(fired[Chaos.actual_t])
        target = next((first_text(r, TARGET_KEYS) for r in records if first_text(r, TARGET_KEYS)), "")
        events = [(r[Chaos.t] - t0, str(r.get(Chaos.event, "")), readable_detail(r, t0)) for r in records]
        rows.append(ChaosRow(number=number, at=at, fault=first_text(final, NAME_KEYS) or "fault", target=target, outcome=outcome,
                             noticed_after=None if after is None else float(after), events=events))
    return rows


def readable_detail(record: dict[str, Any], t0: float) -> str:
    """A chaos record's fields as a person reads them: times since the run started, targets
    by name, no bookkeeping keys."""
    parts = []
    for key, value in record.items():
        if key in (Chaos.t, Chaos.kind, Chaos.id, Chaos.fault, Chaos.event) or value in (None, "", [], {}):
            continue
        if key.endswith("_t") and isinstance(value, (int, float)):
            parts.append(f"{key[:-2]} at {value - t0:.2f}s")
        elif key == Chaos.targets and isinstance(value, list):
            parts.append("targets: " + "; ".join(
                ", ".join(f"{k} {v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
                for item in value))
        elif isinstance(value, float):
            parts.append(f"{key.replace('_', ' ')}: {value:g}")
        else:
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def _varying_labels(label_sets: list[tuple]) -> set[str]:
    values: dict[str, set[str]] = defaultdict(set)
    for labels in label_sets:
        for key, value in labels:
            values[key].add(value)
    return {key for key, seen in values.items() if len(seen) > 1} or {k for k, _ in (label_sets[0] if label_sets else ())}


def _rates(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A counter's per-second rate between successive scrapes (a reset counts from 0)."""
    out = []
    for (t1, v1), (t2, v2) in zip(points, points[1:], strict=False):
        if t2 > t1:
            out.append((t2, ((v2 - v1) if v2 >= v1 else v2) / (t2 - t1)))
    return out


def _detail(record: dict[str, Any]) -> str:
    skip = {Chaos.t, Chaos.kind}
    return ", ".join(f"{k}={v}" for k, v in record.items() if k not in skip)[:400]


def markers(timeline: Timeline, t0: float) -> list[Marker]:
    out: list[Marker] = []
    targets: dict[str, str] = {}
    for record in timeline.events:
        if record[Chaos.kind] == Chaos.KIND:
            if not is_chaos_event(record):
                continue
            label = describe_chaos(record, targets)
        elif record[Error.kind] == Error.KIND:
            label = f"error: {record.get(Error.error_kind, '')}".strip()
        else:
            continue
        out.append(Marker(number=len(out) + 1, t=record[Chaos.t] - t0, kind=record[Chaos.kind], label=label, detail=_detail(record)))
    return out
