"""Verdicts and metrics out in Prometheus's format (issue 25): the run file and the live counters."""

from __future__ import annotations

import json

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.measure.records import Chaos
from harness.measure.timeline import EVENTS_FILE, TIMELINE_DIR
from harness.report.prometheus import grouping_key, write_run_metrics
from harness.run.live_metrics import LiveMetrics
from tests.unit.slo_timelines import T0, phase, request, sample


def samples_of(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def find(found: dict, name: str, **labels: str) -> float:
    hits = [v for (n, lab), v in found.items() if n == name and set(labels.items()) <= lab]
    assert len(hits) == 1, f"{name} {labels}: {len(hits)} series"
    return hits[0]


@pytest.fixture
def run_dir(tmp_path):
    records = [*phase("run", 0, 30), *phase("load", 2, 22), *phase("cooldown", 22, 28),
               *(request(3 + k * 0.1, latency_ms=40.0) for k in range(90)),
               *(request(15 + k * 0.1, outcome="error", latency_ms=2000.0) for k in range(10)),
               Chaos.new(t=T0 + 10, id="fault-1", fault="kill_replica", event="injected"),
               Chaos.new(t=T0 + 11, id="fault-1", fault="kill_replica", event="noticed"),
               sample(12, running=2, target=3)]
    folder = tmp_path / "run-1" / TIMELINE_DIR
    folder.mkdir(parents=True)
    (folder / EVENTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    verdicts = [
        {"name": "fast", "check": "p(99) < 500ms", "window": "load", "passed": False, "measured": 2000.0,
         "bound": 500.0, "op": "<", "unit": "ms", "message": "", "no_data": False,
         "interval": {"low": 1800.0, "high": 2100.0, "confidence": 0.95}, "outcome": "fail"},
        {"name": "scales", "check": "decision_to_running(Echo) < 10s", "window": "run", "passed": False,
         "measured": None, "bound": 10.0, "op": "<", "unit": "s", "message": "", "no_data": True},
    ]
    summary = {"run_id": "run-1", "scenario": "demo", "seed": 7, "status": "failed", "exit_code": 1,
               "error": None, "started_at": T0, "ended_at": T0 + 31, "verdicts": verdicts, "release": "v1.2"}
    (tmp_path / "run-1" / "summary.json").write_text(json.dumps(summary))
    return tmp_path / "run-1"


def test_run_file_holds_verdicts_requests_chaos_and_phases(run_dir):
    path = write_run_metrics(run_dir)
    found = samples_of(path.read_text())
    base = {"scenario": "demo", "run": "run-1", "seed": "7", "release": "v1.2"}
    assert find(found, "harness_run_passed", **base) == 0 and find(found, "harness_run_exit_code") == 1
    assert find(found, "harness_slo_passed", slo="fast", check="p(99) < 500ms", window="load", unit="ms") == 0
    assert find(found, "harness_slo_measured", slo="fast") == 2000 and find(found, "harness_slo_bound", slo="fast") == 500
    assert find(found, "harness_slo_interval_low", slo="fast") == 1800
    assert find(found, "harness_slo_interval_high", slo="fast") == 2100
    assert find(found, "harness_slo_outcome", slo="fast", outcome="fail") == 1
    assert find(found, "harness_slo_no_data", slo="scales") == 1
    assert not [k for k in found if k[0] == "harness_slo_measured" and ("slo", "scales") in k[1]]
    assert find(found, "harness_requests_total", outcome="ok") == 90
    assert find(found, "harness_requests_total", outcome="error") == 10
    assert find(found, "harness_request_latency_seconds_bucket", outcome="ok", le="0.05") == 90
    assert find(found, "harness_request_latency_seconds_bucket", outcome="error", le="1.0") == 0
    assert find(found, "harness_request_latency_seconds_count", outcome="error") == 10
    assert find(found, "harness_chaos_events_total", fault="kill_replica", event="injected") == 1
    assert find(found, "harness_phase_duration_seconds", phase="load") == pytest.approx(20)
    assert find(found, "harness_phase_duration_seconds", phase="cooldown") == pytest.approx(6)


def test_grouping_key_is_scenario_and_release():
    assert grouping_key({"scenario": "demo", "release": "v1"}) == {"scenario": "demo", "release": "v1"}
    assert grouping_key({"scenario": "demo", "release": ""}) == {"scenario": "demo"}


def test_live_fold_counts_requests_replicas_nodes_and_chaos():
    live = LiveMetrics("demo", "run-1", 7)
    live.fold([request(1, latency_ms=30.0), request(2, outcome="shed", latency_ms=5.0),
               request(3, outcome="timeout", latency_ms=9000.0), sample(4, running=2, target=3),
               Chaos.new(t=T0 + 5, id="fault-1", fault="kill_raylet", event="injected")])
    live.fold([request(6, latency_ms=20.0)])  # incremental: later records add up
    found = samples_of(generate_latest(live.registry).decode())
    assert find(found, "harness_live_requests_sent_total", scenario="demo", run="run-1", seed="7") == 4
    assert find(found, "harness_live_requests_total", outcome="ok") == 2
    assert find(found, "harness_live_requests_total", outcome="shed") == 1
    assert find(found, "harness_live_requests_total", outcome="error") == 0  # present before any error
    assert find(found, "harness_live_request_latency_seconds_bucket", outcome="ok", le="0.05") == 2
    assert find(found, "harness_live_replicas", deployment="Echo", state="target") == 3
    assert find(found, "harness_live_replicas", deployment="Echo", state="running") == 2
    assert find(found, "harness_live_chaos_events_total", fault="kill_raylet", event="injected") == 1


def test_the_grafana_dashboard_names_only_metrics_the_harness_serves(run_dir):
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-live.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = {n for e in exprs for n in re.findall(r"\b(harness_[a-z_]+)", e)}
    live = LiveMetrics("demo", "run-1", 7)
    live.fold([request(1), sample(2, running=1, target=1) | {"nodes_alive": 1, "nodes_dead": 0},
               Chaos.new(t=T0 + 3, id="fault-1", fault="kill_raylet", event="injected")])
    served = {s.name for fam in text_string_to_metric_families(generate_latest(live.registry).decode())
              for s in fam.samples}
    served |= {s.name for fam in text_string_to_metric_families(write_run_metrics(run_dir).read_text())
               for s in fam.samples}
    assert named and named <= served, named - served
