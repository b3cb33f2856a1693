"""A load process started ahead (while the app becomes ready) sends nothing before its go.

Real Locust against a tiny local HTTP server (no Ray): the runner prestarts its one load
process during the app-ready wait (harness.load.process.LoadProcess.prestart) and hands it
its go, where to send, once the app answers; the load window starts after the go.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.load_server import running_server
from harness.load.process import LoadProcess
from harness.measure.stats import window_stats
from harness.measure.timeline import Timeline
from harness.model.load_spec import LoadSpec
from harness.procs.ledger import ProcessLedger
from locustfiles.load_gate import GATE_READY

pytestmark = [pytest.mark.integration, pytest.mark.no_cluster]
SPEC = {"model": "closed", "users": 2, "spawn_rate": 2, "wait_ms": 20}


def prestarted(tmp: Path, url: str, duration_s: float) -> tuple[LoadProcess, ProcessLedger]:
    ledger = ProcessLedger(tmp.name)
    load = LoadProcess(run_dir=tmp, spec=LoadSpec.model_validate(SPEC), target_url=url, duration_s=duration_s,
                       seed=3, ledger=ledger)
    assert load.can_prestart
    load.prestart()
    log = tmp / "locust" / "locust.log"
    deadline = time.monotonic() + 60
    while GATE_READY not in (log.read_text(errors="replace") if log.exists() else ""):
        assert load.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "the prestarted load process never reached its gate"
        time.sleep(0.05)
    return load, ledger


def test_a_prestarted_load_sends_only_after_its_go_and_to_the_go_url(tmp_path: Path) -> None:
    with running_server() as (url, _server):
        # Started with a URL nothing listens on: the go names the one to send to (a fault proxy's, say).
        load, ledger = prestarted(tmp_path, "http://127.0.0.1:9/", duration_s=2)
        requests = tmp_path / "timeline" / "requests.jsonl"
        assert not requests.exists() or requests.stat().st_size == 0  # imported, waiting: nothing sent
        go = time.time()
        load.start(url)
        load.wait_started(30)
        deadline = time.monotonic() + 30
        while load.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert load.stop() == 0
    assert ledger.alive() == []
    timeline = Timeline.load(tmp_path)
    window = timeline.window("load")
    assert window is not None and window.start >= go  # the load's origin is the go, not the spawn
    stats = window_stats(timeline, window)
    assert stats["requests"] > 20 and stats["ok"] == stats["requests"], stats


def test_a_prestarted_load_never_started_quits_at_stop_without_sending(tmp_path: Path) -> None:
    load, ledger = prestarted(tmp_path, "http://127.0.0.1:9/", duration_s=2)
    t0 = time.monotonic()
    assert load.stop() == 0
    assert time.monotonic() - t0 < 5  # it quits at the closed gate, not after the stop grace
    assert ledger.alive() == []
    requests = tmp_path / "timeline" / "requests.jsonl"
    assert not requests.exists() or requests.stat().st_size == 0
