"""A user's Locust class in the open model, in a real Locust process against a tiny local server
(no Ray): only scheduled sends run its tasks, on time, in the seed's order; a raising task is
counted and the process lives on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.load_server import running_server
from harness.load.process import run_load
from harness.load.spec import LoadSpec
from harness.measure.timeline import Timeline
from harness.procs.ledger import ProcessLedger

# No Ray cluster: `make test` runs this beside the unit tests (pytest -m no_cluster).
pytestmark = [pytest.mark.integration, pytest.mark.no_cluster]
LOAD = {"model": "open", "rate": 100, "arrivals": "uniform", "user_class": "tests.fixtures.apps.users:FlakyUser"}


def one_run(tmp: Path, name: str, url: str) -> Timeline:
    run_dir = tmp / name
    run_dir.mkdir()
    ledger = ProcessLedger(name)
    run_load(run_dir, LoadSpec.model_validate(LOAD), url, 4, 3, ledger)
    assert ledger.alive() == []
    return Timeline.load(run_dir)


def task_of(record: dict) -> str:
    return "broken_task" if record["name"] in ("echo", "task:broken_task") else "predict"


def test_open_model_user_class_runs_one_task_per_scheduled_send_in_the_seeds_order(tmp_path: Path) -> None:
    with running_server() as (url, _server), ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda name: one_run(tmp_path, name, url), ["a", "b"])
    for timeline in (first, second):
        report = next(e for e in timeline.events if e["kind"] == "load_report")
        assert report["scheduled"] == report["sent"] == 400 and report["dropped"] == 0
        # broken_task sends `echo` and then raises: its error is a record of its own.
        names = [r["name"] for r in timeline.requests]
        assert names.count("echo") == names.count("task:broken_task") > 0
        assert names.count("predict") + names.count("echo") == 400  # one task per send, nothing unscheduled
        assert all("lag_ms" in r for r in timeline.requests if r["name"] in ("predict", "echo"))
    # Same seed, same tasks in the same order (by intended send time).
    order = [[task_of(r) for r in sorted(t.requests, key=lambda r: r["t"]) if r["name"] != "task:broken_task"]
             for t in (first, second)]
    assert order[0] == order[1]
