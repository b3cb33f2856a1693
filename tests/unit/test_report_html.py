"""report.html from stored results: content, self-containment, suites and `harness report`."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli import main
from harness.measure.chaos_events import describe_chaos
from harness.measure.timeline import Timeline
from harness.report.chart_series import MAX_BUCKETS, bucket_size, build_series
from harness.report.html import REPORT_FILE, build_report, write_report
from harness.report.suite_html import write_suite_report
from harness.report.svg import nice_ticks
from tests.synthetic_run import BURST, CHAOS_AT, T0, make_run


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "results")


class _Tags(HTMLParser):
    """Collects tags and the attributes that could load something from elsewhere."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}  # SVG elements here are self-closed or closed

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.loads: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and not (tag == "a" and value and not value.startswith("http")):
                self.loads.append(f"{tag} {name}={value}")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_report_is_self_contained_and_well_formed(run_dir: Path) -> None:
    page = build_report(run_dir)
    parsed = _parse(page)
    assert parsed.open == [], f"unclosed tags: {parsed.open}"
    assert parsed.loads == [], f"the report loads something: {parsed.loads}"
    assert "script" not in parsed.tags
    assert not re.search(r"url\(|@import", page)


def test_report_content_in_order(run_dir: Path) -> None:
    page = build_report(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    # Verdict table first, then the run facts, then the charts.
    assert page.index("<h2>Verdicts</h2>") < page.index("<h2>Run</h2>") < page.index('<svg class="chart"')
    for verdict in summary["verdicts"]:
        assert verdict["name"] in page
    assert "97.02%" in page or "FAIL" in page
    assert summary["reproduce"] in page
    assert '<dt>seed</dt><dd><code>7</code>' in page
    charts = re.findall(r'<svg class="chart" data-chart="(\w+)"', page)
    assert charts == ["rps", "latency", "errors", "replicas", "nodes"]
    # Every chart marks the injected and noticed chaos events (the plan is no event) and the phases.
    assert page.count('<g class="marker" data-kind="chaos">') == 2 * len(charts)
    assert page.count('<g class="band" data-name="burst-1">') == len(charts)
    assert page.count('<g class="band" data-name="load">') == len(charts)
    assert page.count('<g class="band" data-name="fault-1">') == len(charts)  # the fault's window
    assert "kill_raylet injected a40-node" in page


def test_report_shows_the_load_report_per_window(run_dir: Path) -> None:
    assert "Load by window" not in build_report(run_dir)  # nothing stored, nothing shown
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["artifacts"] = {"load_windows": [
        {"window": "burst-1", "seconds": 6.0, "requests": 230, "offered_rps": 40.2, "achieved_rps": 38.3,
         "p50_ms": 5.1, "p90_ms": 8.0, "p99_ms": None, "ok": 219, "shed": 11, "errors": 0, "dropped": 12,
         "retries": 0, "warnings": ["p99 rests on 99 samples (needs >= 100)"]},
    ]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = build_report(run_dir)
    assert "<h2>Load by window</h2>" in page
    assert '<td>burst-1</td><td class="num">6</td><td class="num">230</td><td class="num">40.2</td>' in page
    assert '<td class="num">-</td>' in page and "p99 rests on 99 samples" in page
    assert _parse(page).open == []


def test_report_of_an_infrastructure_error_says_so(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, error="raylet did not start")
    page = build_report(run_dir)
    assert "Infrastructure error (cluster)" in page and "raylet did not start" in page
    assert '<span class="badge error">ERROR</span>' in page


def test_series_bucket_requests_by_send_time(run_dir: Path) -> None:
    series = build_series(Timeline.load(run_dir))
    rps = next(c for c in series.charts if c.key == "rps")
    achieved = dict(next(s for s in rps.series if s.label == "ok").points)
    offered = dict(next(s for s in rps.series if s.label == "offered").points)
    assert series.bucket_s == 1.0
    baseline = [achieved[t + 0.5] for t in range(10, 17)]
    burst = [offered[t + 0.5] for t in range(int(BURST[0]), int(BURST[1]))]
    assert 12 < sum(baseline) / len(baseline) < 28
    assert 30 < sum(burst) / len(burst) < 52
    completed = dict(next(s for s in rps.series if s.label == "sent").points)
    assert sum(completed[t + 0.5] for t in range(18, 24)) < sum(burst)  # dropped sends were offered
    errors = next(c for c in series.charts if c.key == "errors")
    dropped = dict(next(s for s in errors.series if s.label == "dropped by the generator").points)
    assert dropped[20.5] > 0 and dropped[12.5] == 0
    latency = next(c for c in series.charts if c.key == "latency")
    p99 = dict(next(s for s in latency.series if s.label == "p99").points)
    assert p99[CHAOS_AT + 0.5] > 3 * p99[12.5]  # the slowdown after the kill
    assert [m.label for m in series.markers] == ["kill_raylet injected a40-node", "kill_raylet noticed a40-node"]
    assert 0 < series.x_start < 8.0  # charts start shortly before load, not at cluster start


@pytest.mark.parametrize("seconds", [0, 44, 600, 601, 1800, 7 * 24 * 3600])
def test_long_runs_get_wider_buckets(seconds: float) -> None:
    size = bucket_size(seconds)
    assert size >= 1 and seconds / size <= MAX_BUCKETS
    assert size == 1 or seconds / (size - 1) > MAX_BUCKETS  # no wider than needed


def test_replica_targets_from_samples_or_the_config(run_dir: Path) -> None:
    replicas = next(c for c in build_series(Timeline.load(run_dir), {"Router": 1.0}).charts if c.key == "replicas")
    labels = [s.label for s in replicas.series]
    assert labels == ["Echo target", "Echo running", "Router target (num_replicas)", "Router running"]
    assert {v for _, v in replicas.series[1].points} == {1.0, 2.0}


def test_describe_chaos_reads_declared_fields_and_targets_loosely() -> None:
    assert describe_chaos({"fault": "kill_replica", "event": "injected", "targets": [{"replica_id": "r1"}]}) == (
        "kill_replica injected r1"
    )
    assert describe_chaos({"t": T0}) == "fault"
    targets: dict[str, str] = {}
    injected = {"id": "fault-2", "fault": "terminate_node", "event": "injected",
                "targets": [{"node": "a40-node", "pid": 1}, {"node": "a100-node", "pid": 2}]}
    assert describe_chaos(injected, targets) == "terminate_node injected a40-node +1"
    cleaned = {"id": "fault-2", "fault": "terminate_node", "event": "cleaned"}
    assert describe_chaos(cleaned, targets) == "terminate_node cleaned a40-node +1"
    assert describe_chaos(cleaned) == "terminate_node cleaned"


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0, 7), (0, 44), (3.2, 47.9), (0, 1234), (0, 0.03)])
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float) -> None:
    ticks = nice_ticks(low, high, 5)
    assert ticks[0] <= low and ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and 2 <= len(ticks) <= 12


def test_suite_report_links_each_run(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    passed_like = make_run(suite, name="alpha", seed=1)
    broken = make_run(suite, name="beta", seed=2, error="app never ready")
    unreadable = suite / "gamma-crashed"
    unreadable.mkdir()
    path = write_suite_report(suite, [passed_like, broken, unreadable], title="nightly")
    page = path.read_text()
    links = re.findall(r'<a href="([^"]+)">', page)
    assert links == [f"{passed_like.name}/{REPORT_FILE}", f"{broken.name}/{REPORT_FILE}"]
    for link in links:
        assert (suite / link).is_file()  # built on the way when missing
    assert "gamma-crashed" in page and "expected the run&#x27;s summary.json" in page
    assert '<span class="badge error">ERROR</span>' in page
    assert _parse(page).open == []


def test_suite_report_reads_the_suite_runners_summary(tmp_path: Path) -> None:
    """A flaky scenario (failed, then passed on retry) reads as the suite decided, not as failed."""
    suite = tmp_path / "nightly-1"
    first = make_run(suite, name="alpha", seed=1)
    second = make_run(suite, name="alpha", seed=2)
    attempts = [{"number": n, "run_id": run.name} for n, run in enumerate((first, second), 1)]
    (suite / "summary.json").write_text(json.dumps({
        "suite": "nightly", "exit_code": 0, "verdict": "the release may ship", "blocking": [],
        "flaky": ["alpha"], "scenarios": [{"name": "alpha", "status": "flaky", "blocking": False,
                                           "attempts": attempts}],
    }))
    assert main(["report", str(suite)]) == 0  # a folder of runs with its own summary: a suite
    page = (suite / REPORT_FILE).read_text()
    assert page.count("<a href=") == 2 and "<h1>suite nightly" in page
    assert '<span class="badge passed">PASSED</span>' in page
    assert "attempt 1 of 2, flaky" in page and "attempt 2 of 2, flaky" in page
    assert "the release may ship" in page and "flaky: alpha" in page


def test_harness_report_command(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not (run_dir / REPORT_FILE).exists()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / REPORT_FILE).read_text() == build_report(run_dir)
    assert f"report: {run_dir / REPORT_FILE}" in capsys.readouterr().out.replace("\n", "")
    # by run id under --results, and a suite folder of runs
    assert main(["report", run_dir.name, "--results", str(run_dir.parent)]) == 0
    assert main(["report", str(run_dir.parent)]) == 0
    assert (run_dir.parent / REPORT_FILE).is_file()


def test_harness_report_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "no-such-run", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-run" in err[0] and "expected a run directory" in err[0]
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text("{not json")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"{bad / 'summary.json'}: expected")


def test_write_report_is_atomic_and_rebuilds_the_same(run_dir: Path) -> None:
    first = write_report(run_dir).read_text()
    assert write_report(run_dir).read_text() == first
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []
