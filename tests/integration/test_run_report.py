"""A real run (real cluster, Serve, Locust) prints the live view and ends with its report.

Kept cheap: one node, a few seconds of light load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.html import REPORT_FILE
from tests.integration.conftest import surviving_run_processes

pytestmark = pytest.mark.integration

SCENARIO = """
name: view-check
seed: 3
duration_s: 4
timeout_s: 150
cluster:
  nodes:
    - {name: head, num_cpus: 2, object_store_mb: 100}
app:
  deployments:
    - {name: Echo, num_replicas: 1, ray_actor_options: {num_cpus: 0.5}}
load:
  users: 2
  spawn_rate: 2
  wait_ms: 50
slos:
  - {check: "success_ratio >= 90%"}
"""


def test_a_run_prints_live_lines_and_writes_its_report(tmp_path: Path) -> None:
    scenario = tmp_path / "view.yaml"
    scenario.write_text(SCENARIO)
    results = tmp_path / "results"
    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--results", str(results)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    live = [line for line in lines if line.startswith("[live] ")]
    assert live, done.stdout  # stdout is not a terminal: plain lines, at least the final one
    assert re.search(r"requests [1-9]\d* errors 0 shed 0 \| replicas Echo 1/1 \| nodes 1", live[-1]), live[-1]
    report = Path(lines[-1].removeprefix("report: "))
    assert lines[-1].startswith("report: ") and report.name == REPORT_FILE and report.is_file()
    page = report.read_text()
    assert page.count('<svg class="chart"') == 5 and "no data recorded" not in page
    summary = json.loads((report.parent / "summary.json").read_text())
    assert summary["metrics"]["live_view_updates"] > 0
    assert summary["metrics"]["live_view_cpu_pct"] < 5  # the view's own thread, while load runs
    assert summary["metrics"]["harness_cpu_percent_during_load"] < 10  # the whole harness process
    assert surviving_run_processes(report.parent) == []
