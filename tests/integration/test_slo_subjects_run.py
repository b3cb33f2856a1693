"""An import-path app's SLO naming a deployment it lacks: exit 2 right after the deploy (issue 11)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.integration.conftest import ROOT, ray_env, surviving_run_processes

pytestmark = pytest.mark.integration


@pytest.mark.no_timing  # exit 2 before any load
def test_slo_on_a_missing_deployment_stops_before_load_with_exit_2(tmp_path):
    scenario = tmp_path / "user-app-typo.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "user-app-typo", "duration_s": 6, "timeout_s": 120,
        "cluster": {"nodes": [{"name": "head", "num_cpus": 1, "object_store_mb": 100}]},
        "app": {"name": "userapp", "import_path": "tests.fixtures.user_app:app", "python_path": [str(ROOT)]},
        "slos": [{"check": "max_replicas(Hello) <= 2"}, {"check": "max_replicas(Helo) <= 2"}],
    }))
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--results", str(results)],
                          cwd=ROOT, env=ray_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    expected = (f"{scenario}: slos.1.check: expected a deployment of app 'userapp' (Hello), got 'Helo': "
                "did you mean 'Hello'?")
    assert f"invalid config: {expected}" in done.stdout.splitlines()  # one log line, whole
    run_dir = (results / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["error"] == {"kind": "config", "message": expected} and summary["exit_code"] == 2
    # No request was sent: the load process may have been started during the app-ready wait
    # (harness.load.process: it waits for the go), but the run stopped before the load.
    requests = run_dir / "timeline" / "requests.jsonl"
    assert not requests.exists() or requests.read_text() == ""
    assert surviving_run_processes(run_dir) == []
