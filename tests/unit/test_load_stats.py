"""Per-window load statistics and the request-level SLO metrics, over hand-made timelines."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from harness.load.window_report import report_load_windows
from harness.measure.stats import (
    KEY_METRICS,
    key_metrics,
    load_windows,
    min_samples,
    percentile,
    renamed,
    sample_warning,
    window_stats,
)
from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.model.scenario import SLOSpec
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict
from harness.slo.core import evaluate

T0 = 1_000.0


def phase(name: str, start: float, end: float) -> list[dict]:
    return [
        {"t": T0 + start, "kind": "phase", "name": name, "edge": "start", "source": "load"},
        {"t": T0 + end, "kind": "phase", "name": name, "edge": "end", "source": "load"},
    ]


def request(at: float, latency: float, outcome: str = "ok", attempt: int = 1, final: bool = True,
            attempt_ms: float | None = None, rid: int = 0) -> dict:
    return {"t": T0 + at, "kind": "request", "id": rid, "latency_ms": latency, "outcome": outcome,
            "attempt": attempt, "final": final, "attempt_ms": attempt_ms if attempt_ms is not None else latency}


def burst_timeline() -> Timeline:
    records = phase("load", 0, 10) + phase("baseline", 0, 5) + phase("burst-1", 5, 10)
    records += [request(i * 0.05, 1.0 + i % 10, rid=i) for i in range(100)]  # baseline: 100 ok
    records += [request(5 + i * 0.02, 100.0 + i, rid=100 + i) for i in range(200)]  # burst
    records += [request(5.5, 5.0, "shed", final=False, rid=900), request(5.5, 9.0, "shed", attempt=2, rid=900)]
    records += [request(6.0, 2000.0, "timeout", rid=901)]
    records += [{"t": T0 + 7 + i * 0.1, "kind": "dropped", "id": 1000 + i, "reason": "in_flight"} for i in range(10)]
    return Timeline(records)


def test_percentiles_are_exact_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.25], 99) == 7.25


def test_too_few_samples_are_flagged() -> None:
    assert (min_samples(50), min_samples(99), min_samples(99.9)) == (2, 100, 1000)
    assert sample_warning(99, 99) == "p99 rests on 99 samples (needs >= 100)"
    assert sample_warning(99, 100) is None


def test_window_stats_per_window() -> None:
    timeline = burst_timeline()
    assert [w.name for w in load_windows(timeline)] == ["load", "baseline", "burst-1"]
    base = window_stats(timeline, timeline.window("baseline"))
    assert (base["requests"], base["ok"], base["shed"], base["errors"], base["dropped"]) == (100, 100, 0, 0, 0)
    assert base["offered_rps"] == base["sent_rps"] == 20.0
    assert base["p50_ms"] == 5.0 and base["p99_ms"] == 10.0
    assert base["warnings"] == []
    burst = window_stats(timeline, timeline.window("burst-1"))
    assert (burst["requests"], burst["shed"], burst["errors"], burst["dropped"]) == (202, 1, 1, 10)
    assert (burst["attempts"], burst["retries"]) == (203, 1)
    assert burst["offered_rps"] == 42.4 and burst["sent_rps"] == 40.4
    assert burst["max_ms"] == 2000.0


def check(text: str, window: str = "load") -> tuple[bool, float | None, str]:
    verdict = evaluate(SLOSpec(check=text, window=window), burst_timeline())
    return verdict.passed, verdict.measured, verdict.message


def test_rate_and_count_metrics_read_the_window() -> None:
    assert check("offered_rps >= 40", "burst-1")[:2] == (True, 42.4)
    assert check("achieved_rps >= 41", "burst-1")[:2] == (False, 40.4)
    assert check("dropped == 0", "baseline")[0]
    assert check("dropped == 0", "burst-1")[:2] == (False, 10)
    assert check("shed <= 1")[:2] == (True, 1)
    assert check("errors == 0")[:2] == (False, 1)
    assert check("retries == 1")[0]


def test_names_say_their_population() -> None:
    """p99_ms is over every final request, p99_ok_ms over successful ones; sent and ok rates differ."""
    timeline = burst_timeline()
    burst = window_stats(timeline, timeline.window("burst-1"))
    assert burst["max_ms"] == 2000.0 and burst["p99_ms"] == 298.0  # the shed and the timeout count here
    assert burst["p99_ok_ms"] == 297.0 and (burst["samples"], burst["ok_samples"]) == (202, 200)
    assert (burst["sent_rps"], burst["ok_rps"], burst["success_ratio"]) == (40.4, 40.0, round(200 / 202, 6))
    # The SLO metrics read the same numbers, under today's names and the older ones.
    assert check("ok_rps >= 40", "burst-1")[:2] == check("rps >= 40", "burst-1")[:2] == (True, 40.0)
    assert check("sent_rps >= 41", "burst-1")[:2] == (False, 40.4)
    assert check("p(99) < 1s", "burst-1")[1] == burst["p99_ms"]
    assert check("p(99, ok) < 1s", "burst-1")[1] == burst["p99_ok_ms"]


def test_history_key_metrics_are_the_load_windows_statistics() -> None:
    timeline = burst_timeline()
    load = window_stats(timeline, timeline.window("load"))
    metrics = key_metrics(timeline)
    assert set(metrics) == set(KEY_METRICS)
    assert {k: metrics[k] for k in KEY_METRICS} == {k: round(load[k], 6 if k == "success_ratio" else 3)
                                                    for k in KEY_METRICS}
    assert metrics["p99_ms"] > metrics["p99_ok_ms"]


def test_older_names_read_as_todays() -> None:
    assert renamed({"load_achieved_rps": 3.0, "achieved_rps": 2.0, "ok": 1}) == {
        "load_sent_rps": 3.0, "sent_rps": 2.0, "ok": 1}
    assert renamed({"sent_rps": 5.0, "achieved_rps": 2.0}) == {"sent_rps": 5.0}  # today's name wins


def test_latency_of_attempts_or_final_outcomes() -> None:
    # The final attempt of the shed request waited 9 ms in all; each attempt alone is timed too.
    assert check("max_latency(shed) == 9ms")[0]
    assert check("p(100, shed, attempts) == 9ms")[0]
    assert check("p(50, shed, attempts) == 5ms")[0]


def test_a_percentile_on_few_samples_says_so_in_its_verdict() -> None:
    passed, _, message = check("p(99) < 10000ms", "burst-1")
    assert passed and "warning" not in message
    passed, measured, message = check("p(99, timeout) < 10000ms", "burst-1")
    assert measured == 2000.0
    assert "warning: p99 rests on 1 samples (needs >= 100)" in message


def test_load_report_prints_the_window_table_and_stores_it(tmp_path: Path) -> None:
    records = phase("load", 0, 10) + phase("baseline", 0, 5) + phase("burst-1", 5, 10)
    records += [request(i * 0.1, 2.0, rid=i) for i in range(100)]
    stream = tmp_path / "timeline" / "requests.jsonl"
    stream.parent.mkdir()
    stream.write_text("".join(json.dumps(r) + "\n" for r in records))
    scenario = scenario_from_dict({"name": "t", "duration_s": 10, "cluster": {"nodes": [
        {"name": "head", "num_cpus": 1}]}, "load": {"model": "open", "rate": 10}}, "t.yaml")
    out = io.StringIO()
    ctx = RunContext(scenario=scenario, scenario_file="t.yaml", run_id="t", run_dir=tmp_path,
                     timeline=TimelineWriter(tmp_path / "timeline" / "events.jsonl"),
                     ledger=ProcessLedger("t"), console=Console(file=out, width=80))
    metrics: dict = {}
    report_load_windows(ctx, Timeline.load(tmp_path), metrics)
    rows = ctx.artifacts.load_windows
    assert [r["window"] for r in rows] == ["load", "baseline", "burst-1"]
    assert rows[1]["requests"] == 50 and rows[2]["requests"] == 50
    text = out.getvalue()
    assert "load by window (open model, constant shape)" in text
    assert "burst-1" in text and "p99 ms" in text
    assert "warning: window baseline: p99 rests on 50 samples (needs >= 100)" in text
    assert metrics["load_offered_rps"] == 10.0


def test_every_statistic_is_tabled_in_the_results_page() -> None:
    from pathlib import Path

    from harness.measure.stats import KEY_METRICS, RENAMED, STATISTICS

    page = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text()
    for names in STATISTICS:
        for name in names.split(", "):
            assert f"`{name}`" in page, name
    for name in (*KEY_METRICS, *RENAMED):
        assert f"`{name}`" in page, name
