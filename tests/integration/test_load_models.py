"""Real Locust processes against a tiny local HTTP server (no Ray): the two load models.

The open and closed runs of the stall test go side by side, each against its own
server, to keep the suite's wall time down.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.load_server import running_server
from harness.load.process import LoadProcess, run_load
from harness.measure.stats import window_stats
from harness.measure.timeline import Timeline
from harness.model.load_spec import LoadSpec
from harness.model.shape import build_profile
from harness.procs.ledger import ProcessLedger
from locustfiles.schedule import arrival_offsets

# No Ray cluster: `make test` runs this beside the unit tests (pytest -m no_cluster).
pytestmark = [pytest.mark.integration, pytest.mark.no_cluster]
SEED = 11


def run(tmp: Path, name: str, load: dict, duration_s: float, *server_options: str) -> tuple[LoadProcess, Timeline]:
    run_dir = tmp / name
    run_dir.mkdir()
    ledger = ProcessLedger(name)
    spec = LoadSpec.model_validate(load)
    with running_server(*server_options) as (url, _server):
        process = run_load(run_dir, spec, url, duration_s, SEED, ledger)
    # Every load process (a master and its workers too) is in the ledger, and gone.
    assert len(ledger.owned()) == (1 if spec.workers == 1 else spec.workers + 1)
    assert ledger.alive() == []
    return process, Timeline.load(run_dir)


def test_a_stall_shows_in_the_open_models_p99_while_the_closed_model_hides_it(tmp_path: Path) -> None:
    stall = ("--stall-after-s", "2", "--stall-s", "2")
    open_load = {"model": "open", "rate": 40, "arrivals": "uniform", "max_lag_ms": 3000}
    closed_load = {"model": "closed", "users": 2, "wait_ms": 10}
    # A generator allowed one request in flight cannot keep its schedule through the stall.
    capped_load = {"model": "open", "rate": 20, "arrivals": "uniform", "max_in_flight": 1, "max_lag_ms": 3000}
    with ThreadPoolExecutor(3) as pool:
        open_run = pool.submit(run, tmp_path, "open", open_load, 8, *stall)
        closed_run = pool.submit(run, tmp_path, "closed", closed_load, 8, *stall)
        capped_run = pool.submit(run, tmp_path, "capped", capped_load, 5, "--stall-after-s", "1", *stall[2:])
        (open_proc, open_tl), (_, closed_tl) = open_run.result(), closed_run.result()
        capped_proc, capped_tl = capped_run.result()

    open_stats = window_stats(open_tl, open_tl.window("load"))
    closed_stats = window_stats(closed_tl, closed_tl.window("load"))
    # Both saw the stall ...
    assert open_stats["max_ms"] >= 1500 and closed_stats["max_ms"] >= 1500
    # ... the open model kept sending through it, so its tail shows it; the closed model's
    # users waited politely, sent little during the stall, and report a flattering p99.
    assert open_stats["p99_ms"] >= 1000, open_stats
    assert closed_stats["p99_ms"] < 500, closed_stats
    assert open_stats["requests"] == pytest.approx(320, abs=2)
    assert open_proc.invalid_reason() is None
    # The capped generator dropped the sends due during the stall, and says its load is invalid.
    capped = window_stats(capped_tl, capped_tl.window("load"))
    assert capped["dropped"] >= 30 and capped["offered_rps"] == pytest.approx(20, abs=0.5)
    assert capped["sent_rps"] < 15
    reason = capped_proc.invalid_reason()
    assert reason is not None and f"dropped {capped['dropped']} of 100 scheduled sends" in reason


def test_trace_replay_follows_its_csv_on_two_workers_on_the_seeded_schedule(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("offset_s,rate,window\n0,10\n2,40,peak\n4,20\n")
    load = {"model": "open", "arrivals": "uniform", "workers": 2, "max_lag_ms": 3000,
            "shape": {"kind": "trace", "csv": str(trace)},
            "retry": {"attempts": 4, "on_status": [503], "backoff_ms": 10}}
    # The server sheds its first 3 requests: the client retries them, every attempt recorded.
    process, timeline = run(tmp_path, "trace", load, 6, "--fail-first", "3")

    load_window, peak = timeline.window("load"), timeline.window("peak")
    assert peak.start - load_window.start == pytest.approx(2) and peak.duration == pytest.approx(2)
    requests = timeline.requests_in(load_window)
    per_second = Counter(int(r["t"] - load_window.start) for r in requests)
    assert [per_second[s] for s in range(6)] == [10, 10, 40, 40, 20, 20]
    # Each worker sent its share, into its own stream.
    by_worker = Counter(r["worker"] for r in requests)
    assert sorted(by_worker) == [1, 2] and by_worker[1] == pytest.approx(by_worker[2], abs=1)
    assert {p.name for p in (tmp_path / "trace" / "timeline").glob("*.jsonl")} == {
        "requests.jsonl", "requests-w1.jsonl", "requests-w2.jsonl"}
    # The sends are exactly the seeded schedule's (intended times, not actual ones).
    config = json.loads((tmp_path / "trace" / "locust" / "load_config.json").read_text())
    profile = build_profile(config["load"]["shape"], 0, 6, SEED)
    expected = [round(t, 6) for t in arrival_offsets(profile, "uniform", SEED)]
    sent = sorted(round(r["t"] - load_window.start, 6) for r in requests)
    assert sent == pytest.approx(expected, abs=1e-5)
    assert process.invalid_reason() is None
    assert len([r for r in process.reports() if r["role"] == "worker"]) == 2
    retried = [r for r in timeline.requests if r["attempt"] > 1 or not r["final"]]
    assert sum(1 for r in retried if r["outcome"] == "shed") == 3
    assert all(r["outcome"] == "ok" for r in requests)
    for record in (r for r in retried if r["final"]):
        first = next(r for r in retried if r["id"] == record["id"] and r["attempt"] == 1)
        assert record["t"] == first["t"] and record["latency_ms"] > first["latency_ms"]
