"""The report's views on a synthetic run: chaos shots as a readable table (no epoch times,
no raw key=value), a progress chart per workload, nodes per type with pending and unmet
demand, and every SLO drawn on the chart it reads, over its window and at its bound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.measure.timeline import Timeline
from harness.report.chart_series import build_series, chaos_rows
from harness.report.html import build_report
from tests.synthetic_run import CHAOS_AT, NODE_DEAD_AT, T0, make_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("results"), extras=True)


def section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 4)
    return page[start:end if end > 0 else None]


def chart_svg(page: str, key: str) -> str:
    start = page.index(f'data-chart="{key}"')
    return page[start:page.index("</svg>", start)]


def test_chaos_shots_read_as_a_table_with_times_since_start(run_dir: Path) -> None:
    [shot] = chaos_rows(Timeline.load(run_dir), T0)
    assert (shot.number, shot.at, shot.fault, shot.target, shot.outcome) == (1, CHAOS_AT, "kill_raylet",
                                                                              "a40-node", "injected")
    assert shot.noticed_after == pytest.approx(NODE_DEAD_AT - CHAOS_AT)
    table = section(build_report(run_dir), "Chaos events and errors")
    headers = re.findall(r"<th>([^<]+)</th>", table)
    assert headers == ["shot", "at", "fault", "target", "outcome", "noticed after", "detail"]
    assert "<td>kill_raylet</td><td>a40-node</td><td>injected</td><td class=\"num\">2.00s</td>" in table
    assert "<details" in table and "planned at 24.99s" in table and "targets: node a40-node" in table
    assert not re.search(r"\b1[67]\d{8}(\.\d+)?\b", table), "an epoch time in the chaos table"
    assert "planned_t=" not in table and "=" not in re.sub(r"<[^>]+>", "", table)


def test_nodes_per_type_chart_has_alive_pending_and_unmet_demand(run_dir: Path) -> None:
    series = build_series(Timeline.load(run_dir))
    chart = next(c for c in series.charts if c.key == "node_types")
    labels = [s.label for s in chart.series if s.points]
    assert labels == ["A100 alive", "A100 pending", "A40 alive", "unmet demand (resource shapes)"]
    demand = next(s for s in chart.series if s.label.startswith("unmet")).points
    assert max(v for _, v in demand) == 1 and demand[-1][1] == 0


def test_workload_progress_chart_shows_its_counters_over_time(run_dir: Path) -> None:
    series = build_series(Timeline.load(run_dir))
    chart = next(c for c in series.charts if c.key == "workload-tasks")
    lines = {s.label: s.points for s in chart.series}
    assert {"ok", "lost", "failed", "submitted"} <= set(lines) and "planned" not in lines
    assert lines["ok"][0][1] == 0 and lines["ok"][-1][1] == 118  # grows to the result's count
    assert lines["lost"][-1][1] == 2


def test_every_slo_is_drawn_on_the_chart_it_reads(run_dir: Path) -> None:
    page = build_report(run_dir)
    latency = chart_svg(page, "latency")
    assert '<g class="slo" data-value="50">' in latency and "p99 latency: p(99) &lt; 50ms" in latency
    assert '<g class="slo" data-value="5">' in chart_svg(page, "rps")  # sent_rps >= 5
    assert '<g class="slo" data-value="2">' in chart_svg(page, "node_types")  # max_nodes(A100) <= 2
    assert '<g class="slo" data-value="">' in chart_svg(page, "workload-tasks")  # a count: its window
    assert "requests succeed" in chart_svg(page, "errors")
    # the bound line spans the SLO's window: load is 8 s to 38 s of the run
    [line] = re.findall(r'<g class="slo" data-value="50"><title>[^<]*: ([\d.]+)s to ([\d.]+)s', latency)
    assert line == ("8.0", "38.0")
