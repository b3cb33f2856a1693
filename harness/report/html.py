"""results/<run-id>/report.html: one self-contained page per run.

Built only from stored results (summary.json and the timeline), so
`harness report RUN` rebuilds exactly what the runner wrote. The page has no
JavaScript and no external resources: CSS is inline and charts are inline SVG.
"""

from __future__ import annotations

import json
import re
import time
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from harness import __version__
from harness.files import write_atomic
from harness.measure import stats
from harness.measure.timeline import Timeline
from harness.model.outcome import Verdict, format_value
from harness.report.chart_series import (
    Bound,
    ChaosRow,
    Marker,
    RunSeries,
    build_series,
    chaos_rows,
    fixed_targets,
)
from harness.report.svg import legend, render_chart

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


class ReportError(Exception):
    """Stored results cannot be read: one line naming the file and what was expected."""


def _template() -> Template:
    text = resources.files("harness.report").joinpath("templates/report.html").read_text("utf-8")
    return Template(text)


def page(title: str, body: str) -> str:
    """A whole HTML page around `body`, with the report's inline stylesheet."""
    return _template().substitute(title=escape(title), body=body)


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportError(f"{path}: expected the run's summary.json (is {run_dir} a run directory?)") from exc
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: expected a readable JSON summary ({exc})") from exc
    if not isinstance(summary, dict):
        raise ReportError(f"{path}: expected a JSON object at the top level")
    return summary


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)) or epoch <= 0:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _verdict_rows(verdicts: list[dict[str, Any]]) -> str:
    if not verdicts:
        return '<tr><td colspan="7" class="msg">no SLOs in this scenario</td></tr>'
    rows = []
    for v in verdicts:
        unit = v.get("unit", "")
        passed = bool(v.get("passed"))
        rows.append(
            "<tr>"
            f"<td>{escape(str(v.get('name', '')))}</td>"
            f"<td>{escape(str(v.get('window', '')))}</td>"
            f'<td class="num">{escape(format_value(v.get("measured"), unit))}</td>'
            f'<td class="num">{escape(_interval_cell(v))}</td>'
            f'<td class="num">{escape(str(v.get("op", "")))} {escape(format_value(v.get("bound"), unit))}</td>'
            f'<td class="{"pass" if passed else "fail"}">{escape(_result_cell(v))}</td>'
            f'<td class="msg">{escape(str(v.get("message", "")))}</td>'
            "</tr>"
        )
    return "".join(rows)


VERDICT_FIELDS = set(Verdict.__dataclass_fields__)


def _as_verdict(v: dict[str, Any]) -> Verdict | None:
    """A stored verdict (summary.json) as a Verdict, for its texts; None if it is not one."""
    try:
        return Verdict(**{k: v[k] for k in v if k in VERDICT_FIELDS})
    except TypeError:
        return None


def _interval_cell(v: dict[str, Any]) -> str:
    verdict = _as_verdict(v)
    return verdict.interval_text() if verdict else ""


def _result_cell(v: dict[str, Any]) -> str:
    verdict = _as_verdict(v)
    return verdict.result_text() if verdict else ("PASS" if v.get("passed") else "FAIL")


def _verdicts_section(summary: dict[str, Any]) -> str:
    out = [
        "<h2>Verdicts</h2><table><thead><tr><th>SLO</th><th>window</th><th>measured</th>"
        f"<th>interval</th><th>bound</th><th>result</th><th>why</th></tr></thead><tbody>{_verdict_rows(summary.get('verdicts') or [])}"
        "</tbody></table>"
    ]
    error = summary.get("error")
    if isinstance(error, dict):
        out.append(
            f'<div class="errorbox"><b>Infrastructure error ({escape(str(error.get("kind")))})</b>: '
            f"{escape(str(error.get('message')))}<br>This run is no verdict on the release.</div>"
        )
    for note in summary.get("notes") or []:
        out.append(f'<div class="sub">note: {escape(str(note))}</div>')
    return "".join(out)


def _facts_section(summary: dict[str, Any], series: RunSeries) -> str:
    versions = summary.get("versions") or {}
    facts = [
        ("scenario", escape(str(summary.get("scenario", "")))),
        ("scenario file", f"<code>{escape(str(summary.get('scenario_file', '')))}</code>"),
        ("seed", f"<code>{escape(str(summary.get('seed', '')))}</code>"),
        ("reproduce", f'<code class="cmd">{escape(str(summary.get("reproduce", "")))}</code>'),
        ("overrides", escape(" ".join(summary.get("overrides") or []) or "none")),
        ("started", _when(summary.get("started_at"))),
        ("run length", f"{series.duration:.1f}s; charts from {series.x_start:.0f}s, {series.bucket_s:g}s buckets"),
        ("versions", escape(", ".join(f"{k} {v}" for k, v in versions.items()))),
    ]
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    config = summary.get("config")
    scenario_yaml = ""
    if isinstance(config, dict):
        text = yaml.safe_dump(config, sort_keys=False)
        scenario_yaml = f"<details><summary>resolved scenario</summary><pre>{escape(text)}</pre></details>"
    return f'<h2>Run</h2><dl class="facts">{items}</dl>{scenario_yaml}'


def _charts_section(series: RunSeries) -> str:
    out = ["<h2>Over the run</h2>"]
    if series.markers:
        out.append('<div class="sub">Numbered red lines: chaos events and errors (listed below). '
                   "Shaded bands: phases of the run.</div>")
    else:
        out.append('<div class="sub">Shaded bands: phases of the run. No chaos events in this run.</div>')
    for chart in series.charts:
        out.append(
            f'<div class="chartbox" id="chart-{escape(chart.key)}"><h3>{escape(chart.title)}</h3>'
            f"{legend(chart)}{render_chart(chart, series.x_start, series.duration, series.bands, series.markers)}</div>"
        )
    return "".join(out)


def _events_section(shots: list[ChaosRow], markers: list[Marker]) -> str:
    """One row per fault shot (times since the run started; its records folded below it),
    then the infrastructure errors; the numbered lines on the charts are listed under them."""
    if not shots and not any(m.kind != "chaos" for m in markers):
        return ""
    rows = []
    for shot in shots:
        events = "".join(f"<li>{at:.2f}s {escape(event)}: {escape(detail)}</li>" for at, event, detail in shot.events)
        noticed = "-" if shot.noticed_after is None else f"{shot.noticed_after:.2f}s"
        rows.append(
            f'<tr><td class="num">{shot.number}</td><td class="num">{shot.at:.2f}s</td>'
            f"<td>{escape(shot.fault)}</td><td>{escape(shot.target or '-')}</td>"
            f"<td>{escape(shot.outcome)}</td><td class=\"num\">{noticed}</td>"
            f'<td><details class="chaos"><summary>{len(shot.events)} records</summary><ul>{events}</ul>'
            "</details></td></tr>"
        )
    for m in markers:
        if m.kind != "chaos":
            rows.append(f'<tr><td class="num">-</td><td class="num">{m.t:.2f}s</td><td colspan="4">'
                        f"{escape(m.label)}</td><td class=\"msg\">{escape(m.detail)}</td></tr>")
    lines = "".join(f"<li>{m.number}: {m.t:.2f}s {escape(m.label)}</li>" for m in markers)
    return (
        "<h2>Chaos events and errors</h2><table><thead><tr><th>shot</th><th>at</th><th>fault</th>"
        "<th>target</th><th>outcome</th><th>noticed after</th><th>detail</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f'<details class="chaos"><summary>numbered lines on the charts</summary><ul>{lines}</ul></details>'
           if markers else "")
    )


# SLO metric -> (the chart it reads, whether its bound is in that chart's unit).
_METRIC_CHARTS = {
    **dict.fromkeys(("p", "avg_latency", "max_latency"), ("latency", True)),
    **dict.fromkeys(("offered_rps", "sent_rps", "ok_rps", "rps", "achieved_rps"), ("rps", True)),
    **dict.fromkeys(("recovery_time", "time_to_success"), ("rps", False)),
    **dict.fromkeys(("success_ratio", "error_ratio", "shed_ratio", "errors", "shed", "dropped",
                     "failed_requests", "retries", "requests"), ("errors", False)),
    **dict.fromkeys(("min_replicas", "max_replicas"), ("replicas", True)),
    **dict.fromkeys(("time_to_replicas", "scale_down_time", "time_to_target", "replica_recovery_time", "replica_outage",
                     "replica_start_time", "direction_changes"), ("replicas", False)),
    "max_nodes": ("node_types", True),
    **dict.fromkeys(("time_to_nodes", "node_scale_down_time", "unmet_demand_time"), ("node_types", False)),
    **dict.fromkeys(("dead_node_noticed_time", "node_noticed_time"), ("nodes", False)),
    **dict.fromkeys(("resources_reclaimed_time", "resource_recovery_time"), ("cpu", False)),
    # The chart draws each role's average process; peak_memory's bound is on the largest one.
    **dict.fromkeys(("memory_growth", "peak_memory"), ("memory", False)),
    **dict.fromkeys(("tasks_failed", "tasks_lost", "tasks_wrong", "messages_lost", "workload",
                     "exit_code"), ("workload-", False)),
}


def attach_slo_bounds(series: RunSeries, verdicts: list[dict[str, Any]]) -> None:
    """Every SLO on the chart it reads, over its window (and at its bound where the chart's
    axis has the bound's unit)."""
    charts = {chart.key: chart for chart in series.charts}
    for v in verdicts:
        match = re.match(r"\s*(\w+)\s*(?:\(\s*([^,)\s]*))?", str(v.get("check", "")))
        start, end = v.get("window_start"), v.get("window_end")
        if match is None or not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
            continue
        key, in_unit = _METRIC_CHARTS.get(match.group(1), (None, False))
        if key == "workload-":
            key = f"workload-{match.group(2)}"
        if key == "memory" and match.group(2) == "object_store":
            key = "object_store"
        if key == "node_types" and key not in charts:
            key, in_unit = "nodes", in_unit and not match.group(2)
        chart = charts.get(key or "")
        if chart is None:
            continue
        value = v.get("bound") if in_unit and isinstance(v.get("bound"), (int, float)) else None
        label = f"{v.get('name', '')}: {v.get('check', '')}"
        chart.bounds.append(Bound(label=label, start=start - series.t0, end=end - series.t0, value=value, passed=bool(v.get("passed"))))


def _phases_section(series: RunSeries) -> str:
    rows = "".join(
        f'<tr><td>{escape(b.name)}</td><td class="num">{b.start:.2f}s</td><td class="num">{b.end:.2f}s</td>'
        f'<td class="num">{b.end - b.start:.2f}s</td></tr>'
        for b in series.bands
    )
    return (
        "<h2>Phases</h2><table><thead><tr><th>window</th><th>start</th><th>end</th><th>length</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


LOAD_COLUMNS = (
    ("window", "window", ""), ("seconds", "s", ".0f"), ("requests", "requests", "d"),
    ("offered_rps", "offered/s", ".1f"), ("sent_rps", "sent/s", ".1f"), ("p50_ms", "p50 ms", ".1f"),
    ("p90_ms", "p90 ms", ".1f"), ("p99_ms", "p99 ms", ".1f"), ("ok", "ok", "d"), ("shed", "shed", "d"),
    ("errors", "errors", "d"), ("dropped", "dropped", "d"), ("retries", "retries", "d"),
)


NUM = ' class="num"'


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt and isinstance(value, (int, float)):
        return format(value, fmt) if fmt != "d" else str(int(value))
    return str(value)


def _load_windows_section(summary: dict[str, Any]) -> str:
    """The load report's per-window table (summary.json artifacts.load_windows), when the run has one."""
    rows = (summary.get("artifacts") or {}).get("load_windows")
    if not isinstance(rows, list) or not rows:
        return ""
    head = "".join(f"<th>{escape(title)}</th>" for _, title, _ in LOAD_COLUMNS)
    body = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        row = stats.renamed(row)  # a run written before the names said their population
        cells = "".join(
            f"<td{'' if key == 'window' else NUM}>{escape(_cell(row.get(key), fmt))}</td>"
            for key, _, fmt in LOAD_COLUMNS
        )
        body.append(f"<tr>{cells}</tr>")
        for warning in row.get("warnings") or []:
            body.append(f'<tr><td></td><td colspan="{len(LOAD_COLUMNS) - 1}" class="msg">{escape(str(warning))}</td></tr>')
    return (
        "<h2>Load by window</h2><table><thead><tr>" + head + "</tr></thead><tbody>"
        + "".join(body) + "</tbody></table>"
    )


def _metrics_section(summary: dict[str, Any]) -> str:
    numbers = {**(summary.get("metrics") or {}), **(summary.get("timings") or {})}
    if not numbers:
        return ""
    rows = "".join(
        f'<tr><td>{escape(str(k))}</td><td class="num">{escape(str(v))}</td></tr>'
        for k, v in sorted(numbers.items())
        if isinstance(v, (int, float, str))
    )
    return f"<h2>Metrics</h2><table><tbody>{rows}</tbody></table>"


def build_report(run_dir: Path, timeline: Timeline | None = None) -> str:
    """The HTML page for one run, from its summary.json and timeline (read from run_dir when
    not handed over: the runner hands the one it read)."""
    summary = load_summary(run_dir)
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    if timeline is None:
        timeline = Timeline.load(run_dir)
    series = build_series(timeline, fixed_targets(config))
    attach_slo_bounds(series, [v for v in summary.get("verdicts") or [] if isinstance(v, dict)])
    status = str(summary.get("status", "unknown"))
    title = f"{summary.get('scenario', run_dir.name)}: {status}"
    body = (
        f'<h1>{escape(str(summary.get("scenario", run_dir.name)))}'
        f'<span class="badge {escape(status)}">{escape(status.upper())}</span></h1>'
        f'<div class="sub">run {escape(str(summary.get("run_id", run_dir.name)))} &middot; '
        f"exit code {escape(str(summary.get('exit_code', '?')))} &middot; "
        f"{escape(str(config.get('description', '')))}</div>"
        + _verdicts_section(summary)
        + _facts_section(summary, series)
        + _charts_section(series)
        + _load_windows_section(summary)
        + _events_section(chaos_rows(timeline, series.t0), series.markers)
        + _phases_section(series)
        + _metrics_section(summary)
        + f"<footer>Written by harness {escape(__version__)} from {escape(SUMMARY_FILE)} and the "
        "timeline; rebuild with <code>harness report RUN</code>.</footer>"
    )
    return page(title, body)


def write_report(run_dir: Path, timeline: Timeline | None = None) -> Path:
    """Write run_dir/report.html atomically and return its path."""
    path = run_dir / REPORT_FILE
    write_atomic(path, build_report(run_dir, timeline))
    return path
