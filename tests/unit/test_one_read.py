"""A finished run reads its timeline once and hands it to every reader (issue 24 item 5).

The runner's conclusion (load report, SLOs, key metrics for history, chaos results,
summary.json, report.html, openmetrics.prom) runs over a synthetic but complete timeline,
with every read of a timeline counted through its one reader, Timeline.load.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rich.console import Console

from harness.measure.timeline import EVENTS_FILE, REQUESTS_FILE, TIMELINE_DIR, Timeline
from harness.report.html import REPORT_FILE
from harness.report.prometheus import RUN_FILE
from harness.report.run_results import RunResults
from harness.run.runner import Runner
from harness.scenario.loader import scenario_from_dict
from tests.synthetic_run import write_events, write_requests

SCENARIO = {
    "name": "one-read", "duration_s": 30, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]},
    "load": {"model": "open", "rate": 20},
    "slos": [{"name": "requests succeed", "check": "success_ratio >= 50%"},
             {"name": "p99 latency", "check": "p(99) < 5s"}],
}


def test_a_run_reads_its_timeline_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = scenario_from_dict(SCENARIO, "one-read.yaml")
    runner = Runner(scenario=scenario, scenario_file="one-read.yaml", results_root=tmp_path, reporter=RunResults(),
                    components=[], run_id="one-read",
                    console=Console(file=open(tmp_path / "console.txt", "w"), width=100))
    run_dir = runner.ctx.run_dir
    write_requests(run_dir / TIMELINE_DIR / REQUESTS_FILE, random.Random(7))
    write_events(run_dir / TIMELINE_DIR / EVENTS_FILE)
    runner.ctx.timeline.close()
    runner.ctx.artifacts.chaos_schedule = {"shots": [{"id": "fault-1"}]}  # as if chaos.component ran

    reads: list[Path] = []
    load = Timeline.load.__func__

    def counted(cls: type[Timeline], where: Path) -> Timeline:
        reads.append(Path(where))
        return load(cls, where)

    monkeypatch.setattr(Timeline, "load", classmethod(counted))
    runner._conclude()

    assert reads == [run_dir]
    outcome = runner.outcome
    assert outcome.error is None, outcome.error
    assert [v.name for v in outcome.verdicts][:2] == ["requests succeed", "p99 latency"]
    assert outcome.key_metrics["ok_rps"] > 0  # history's numbers, from the same read
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["window"] for r in summary["artifacts"]["load_windows"]] == ["load", "burst-1"]
    assert summary["metrics"]["load_offered_rps"] > 0
    # Chaos results have one source: the shots' `result` records, copied into summary.json.
    (shot,) = summary["artifacts"]["chaos_results"]
    assert shot == {"id": "fault-1", "fault": "kill_raylet", "outcome": "injected",
                    "targets": [{"node": "a40-node", "node_id": "abc123", "pid": 4242}]}
    assert "p99 latency" in (run_dir / REPORT_FILE).read_text()
    assert "harness_requests" in (run_dir / RUN_FILE).read_text()
