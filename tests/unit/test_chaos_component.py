"""The chaos component end to end without a cluster: network faults through the real proxy."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console

from chaos.component import ChaosComponent
from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict
from tests.fixtures.http_ok import serve_ok


def test_shots_are_recorded_windowed_and_accounted_for(tmp_path: Path) -> None:
    server = serve_ok()
    port = server.server_address[1]
    scenario = scenario_from_dict({
        "name": "unit", "seed": 4, "duration_s": 60, "timeout_s": 120,
        "cluster": {"address": "127.0.0.1:1"},  # never contacted: network faults need no cluster
        "chaos": {"faults": [
            {"fault": "network", "args": {"mode": "latency", "latency_ms": 100, "duration_s": 0.4},
             "schedule": {"at_s": [0.2]}},
            {"fault": "network", "args": {"mode": "reset", "duration_s": 0.2}, "schedule": {"at_s": [0.9, 50]}},
        ]},
    }, "unit")
    timeline = TimelineWriter(tmp_path / "timeline" / "events.jsonl")
    ctx = RunContext(scenario=scenario, scenario_file="unit", run_id="r", run_dir=tmp_path, timeline=timeline, ledger=ProcessLedger("r"), console=Console(quiet=True))
    ctx.app_url, ctx.http_port = f"http://127.0.0.1:{port}/api", port
    component = ChaosComponent(scenario.chaos)
    component.start(ctx)
    assert ctx.load_url.startswith("http://127.0.0.1:") and ctx.load_url.endswith("/api")
    assert ctx.load_url != ctx.app_url
    ctx.load_started_at = time.time()
    deadline = time.time() + 1.6
    while time.time() < deadline:  # traffic through the proxy, as the load process would send
        try:
            urllib.request.urlopen(ctx.load_url, timeout=2).read()
        except (urllib.error.URLError, ConnectionError):
            pass
    component.stop(ctx)
    timeline.close()
    server.shutdown()

    results = {r["id"]: r for r in Timeline.load(tmp_path).shot_results(stored=True)}
    assert [s["id"] for s in ctx.artifacts.chaos_schedule["shots"]] == ["fault-1", "fault-2", "fault-3"]
    latency, reset, late = results["fault-1"], results["fault-2"], results["fault-3"]
    assert latency["outcome"] == reset["outcome"] == "injected"
    assert latency["noticed"] == "latency applied to traffic" and latency["cleaned"] == "duration over"
    assert reset["noticed"] == "reset applied to traffic"
    assert 0 <= latency["lag_ms"] < 1000 and latency["actual_t"] >= latency["planned_t"]
    assert late["outcome"] == "not_reached" and "run ended" in late["reason"]
    assert component.metrics()["chaos_injected"] == 2

    recorded = Timeline.load(tmp_path)
    window = recorded.window("fault-1")
    assert window is not None and 0.4 <= window.duration < 1.5
    events = [e["event"] for e in recorded.events_of("chaos") if e.get("id") == "fault-1"]
    assert events == ["injected", "noticed", "cleaned", "result"]
