"""Fail-fast on a real cluster (issue 22 item 4): the seeded `no-load-shedding` variant
(configs/release/seeded.yaml) queues its burst instead of shedding it, so its burst p99
surely fails within seconds of the burst; `--fail-fast` ends the run then, tears down as
usual and exits 1 with a verdict that says when it was decided."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import surviving_run_processes

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OVERLOAD = ROOT / "configs" / "release" / "overload-app.yaml"
NO_SHEDDING = ["--set", "app.deployments.0.max_queued_requests=-1"]


def test_no_load_shedding_is_aborted_once_its_burst_p99_surely_failed(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(OVERLOAD), "--results", str(tmp_path),
         *NO_SHEDDING, "--fail-fast", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    wall_s = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    document = json.loads(done.stdout)
    verdicts = {v["name"]: v for v in document["verdicts"]}
    burst = verdicts["overload is shed fast"]
    assert burst["aborted"] and not burst["passed"] and burst["outcome"] == "fail"
    # decided inside the 12 s load, after the burst began (4 s): the run did not play it out
    assert 4.0 < burst["decided_at_s"] < 12.0 and burst["planned_s"] == 12
    assert f"decided at {burst['decided_at_s']:.1f} s of 12 s (aborted)" in output
    assert "fail-fast: overload is shed fast" in output
    run_dir = Path(document["run_dir"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["aborted_at_s"] == pytest.approx(burst["decided_at_s"], abs=0.01)
    load = summary["artifacts"]["load_windows"][0]
    assert load["window"] == "load" and load["seconds"] < 12.0  # the load was stopped early
    events = [json.loads(line) for line in (run_dir / "timeline" / "events.jsonl").read_text().splitlines()]
    (abort,) = [e for e in events if e["kind"] == "abort"]
    assert abort["slo"] == "overload is shed fast"
    # the load stopped within 2 s of the decision
    assert load["start"] + load["seconds"] - (load["start"] + abort["decided_at_s"]) < 2.0
    assert surviving_run_processes(run_dir) == []  # teardown as usual
    junit = (run_dir / "junit.xml").read_text()
    assert 'name="aborted" value="true"' in junit
    print(f"fail-fast run: decided at {burst['decided_at_s']:.1f} s, {wall_s:.1f} s wall")


def test_a_standalone_load_told_to_stop_quits_at_once(tmp_path: Path) -> None:
    # No cluster: Locust against a loopback server. SIGINT (LoadProcess.stop) must end the
    # load within a second, with its windows closed at the stop and its report written.
    from harness.load.process import LoadProcess
    from harness.load.traffic import resolve_requests
    from harness.procs.ledger import ProcessLedger
    from harness.scenario.loader import scenario_from_dict
    from tests.fixtures.http_ok import serve_ok

    server = serve_ok()
    try:
        sc = scenario_from_dict({"name": "stop", "duration_s": 20, "cluster": {"address": "127.0.0.1:1"},
                                 "load": {"model": "open", "rate": 20, "arrivals": "uniform"}}, "stop")
        load = LoadProcess(run_dir=tmp_path, spec=sc.load, target_url=f"http://127.0.0.1:{server.server_address[1]}",
                           duration_s=20, seed=1, ledger=ProcessLedger("stop"), requests=resolve_requests(sc))
        load.start()
        load.wait_started(30)
        time.sleep(1.5)
        asked = time.time()
        load.stop()
        took = time.time() - asked
    finally:
        server.shutdown()
    records = [json.loads(line) for line in (tmp_path / "timeline" / "requests.jsonl").read_text().splitlines()]
    edges = {(r["name"], r["edge"]): r["t"] for r in records if r["kind"] == "phase"}
    assert took < 2.0
    assert edges[("load", "end")] - asked < 1.5  # closed at the stop, not at the planned 20 s
    (report,) = [r for r in records if r["kind"] == "load_report"]
    assert report["sent"] < 20 * 5 and report["requests"] == report["sent"]
    assert load.invalid_reason() is None
