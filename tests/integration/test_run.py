"""`harness run` end to end on real local clusters: verdicts, artifacts, teardown, isolation."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml

from harness.cli import main
from harness.report.html import REPORT_FILE
from tests.integration.conftest import (
    QUICK_REPLICA_STOP,
    ROOT,
    SMOKE,
    ray_env,
    scenario_file,
    surviving_run_processes,
    wait_for,
)
from tests.integration.smoke_support import SmokeRun


def read_junit(run_dir: Path):
    return next(iter(JUnitXml.fromfile(str(run_dir / "junit.xml"))))


def test_smoke_run_writes_verdicts_and_leaves_no_process(smoke: SmokeRun):
    """Also the live view and the report (what tests/integration/test_run_report.py did in a run of its own).

    The run (tests/integration/smoke_support.py) is test_prometheus's too: its SLOs on Ray's
    own metrics are judged there.
    """
    code, run_dir, summary = smoke.code, smoke.run_dir, smoke.summary
    assert code == 1  # one SLO is impossible: the release is blocked
    assert summary["status"] == "failed" and summary["seed"] == 7
    assert set(summary["versions"]) >= {"ray", "locust", "python", "harness"}
    assert summary["config"]["load"]["users"] == 4
    passed = {v["name"]: v["passed"] for v in summary["verdicts"]}
    assert passed == {"requests succeed": True, "p99 latency": True, "enough traffic": True,
                      "impossible latency": False, "replica memory flat": True, "replica memory peak": True,
                      "Serve counted the requests": True, "no deployment errors": True}
    measured = {v["name"]: v["measured"] for v in summary["verdicts"]}
    assert 10 < measured["replica memory peak"] < 2000  # MB: one replica's resident memory
    assert measured["replica memory flat"] is not None
    # Memory samples by role: every kind of process the run owns, and the object store per node.
    events = [json.loads(line) for line in (run_dir / "timeline" / "events.jsonl").read_text().splitlines()]
    memory = [e for e in events if e["kind"] == "memory"]
    assert len(memory) > 10 and summary["metrics"]["memory_samples"] == len(memory)
    roles = set().union(*(m["roles"] for m in memory))
    assert {"driver", "gcs", "raylet", "agent", "serve_controller", "proxy", "replica", "load"} <= roles, roles
    assert max(m["deployments"].get("Echo", {}).get("n", 0) for m in memory) == 2
    assert set(memory[-1]["object_store"]) == {"head", "a100-node", "a40-node"}
    # Every request reached the timeline and the SLO inputs match it.
    lines = (run_dir / "timeline" / "requests.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if '"request"' in line]
    assert summary["metrics"]["requests"] == len(records) > 50
    assert {"t", "latency_ms", "status", "bytes", "outcome"} <= set(records[0])
    assert all(r["bytes"] == 256 for r in records if r["outcome"] == "ok")
    suite = read_junit(run_dir)
    assert (suite.tests, suite.failures, suite.errors) == (8, 1, 0)
    failed = next(c for c in suite if c.result)
    assert isinstance(failed.result[0], Failure)
    assert f"harness reproduce {run_dir}" in failed.result[0].message
    # Cluster and load processes are all gone, Ray logs and Locust output are kept.
    assert surviving_run_processes(run_dir) == []
    assert any((run_dir / "ray_logs").glob("session_*/raylet*.out"))
    assert (run_dir / "locust" / "locust_stats.csv").exists()
    assert summary["timings"]["cluster_start_s"] > 0 and summary["timings"]["teardown_s"] > 0
    # The live view: stdout is not a terminal, so plain lines (at least the final one),
    # then the report's path; the view's thread and the whole harness stay light.
    lines = smoke.stdout.strip().splitlines()
    live = [line for line in lines if line.startswith("[live] ")]
    assert live, lines[-20:]
    assert re.search(r"requests [1-9]\d* errors 0 shed 0 \| replicas Echo 2/2 \| nodes 3", live[-1]), live[-1]
    # After the report's path only what --openmetrics and --pushgateway say (test_prometheus's).
    own = [line for line in lines if not line.startswith(("openmetrics: ", "pushed to "))]
    report = Path(own[-1].removeprefix("report: "))
    assert own[-1].startswith("report: ") and report == run_dir / REPORT_FILE and report.is_file()
    page = report.read_text()
    # rps, latency, errors, replicas, nodes, memory by role, object store per node, and the
    # Ray metric an SLO read (Serve's request counter; the error counter has no data: no chart)
    assert page.count('<svg class="chart"') == 8 and "no data recorded" not in page
    assert 'id="chart-ray-ray_serve_num_http_requests_total"' in page
    assert "Resident memory: each role" in page and "Echo (replicas, up to 2)" in page
    assert summary["metrics"]["live_view_updates"] > 0
    assert summary["metrics"]["live_view_cpu_pct"] < 5  # the view's own thread, while load runs
    assert summary["metrics"]["harness_cpu_percent_during_load"] < 10  # the whole harness process


def test_user_app_on_existing_cluster_is_left_running(tmp_path, unrelated_cluster):
    """A user's app by import path, on a cluster the run did not start."""
    path = scenario_file(tmp_path, {
        "name": "user-app",
        "duration_s": 3,  # ~60 req/s of smoke's 4 users: `requests >= 20` with room
        "cluster": {"address": unrelated_cluster.address},
        "app": {
            "name": "userapp",
            "import_path": "tests.fixtures.user_app:app",
            "deployments": [{"name": "Hello", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.1},
                             **QUICK_REPLICA_STOP}],
        },
        "slos": [{"check": "success_ratio >= 99%"}, {"check": "requests >= 20"}],
    })
    results = tmp_path / "results"
    # Its own process, as a user runs it: Ray fixes a process's auth mode at first use.
    env = {**ray_env(tmp_path), **unrelated_cluster.auth_env}
    env.pop("RAY_TMPDIR")
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--results", str(results),
                           "--json", "--summary-md", str(tmp_path / "verdict.md")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = (results / "latest").resolve()
    # --json: the whole of stdout is one document, whatever Ray and Serve print; text on stderr
    document = json.loads(done.stdout)
    assert document["status"] == "passed" and document["run_dir"] == str(run_dir)
    assert [v["passed"] for v in document["verdicts"]] == [True, True]
    assert "PASSED exit 0" in done.stderr
    assert "### ✅ user-app: passed (exit 0)" in (tmp_path / "verdict.md").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["versions"]["app"] == "unversioned (tests.fixtures.user_app:app)"
    events = [json.loads(line) for line in (run_dir / "timeline" / "events.jsonl").read_text().splitlines()]
    replicas = [e["deployments"]["Hello"]["running"] for e in events if e["kind"] == "sample" and e["deployments"]]
    assert max(replicas) == 2  # the override reached the user's deployment
    assert len(unrelated_cluster.alive_members()) == len(unrelated_cluster.members)
    assert unrelated_cluster.process.poll() is None


@pytest.mark.no_timing  # what an interrupt leaves, no time
def test_sigint_mid_load_writes_results_and_leaves_nothing(tmp_path, unrelated_cluster):
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "harness", "run", str(SMOKE), "--results", str(results),
           "--set", "duration_s=120",
           # The head alone: what is under test is the interrupt, not the smoke cluster's shape.
           "--set", "cluster.nodes=[{name: head, num_cpus: 2, object_store_mb: 100}]"]
    env = ray_env(tmp_path)
    env.pop("RAY_TMPDIR")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def requests_flowing():
            files = list(results.glob("*/timeline/requests.jsonl"))
            return files and files[0].stat().st_size > 2000 and files[0]

        requests_file = wait_for(requests_flowing, 120, "load to start")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out.decode()[-2000:]
    run_dir = requests_file.parent.parent
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error"
    assert summary["error"] == {"kind": "interrupted", "message": "run interrupted by SIGINT"}
    assert summary["metrics"]["requests"] > 0  # what was measured so far is kept
    suite = read_junit(run_dir)
    assert suite.errors == 1 and suite.failures == 0
    assert any(isinstance(c.result[0], Error) for c in suite if c.result)
    assert surviving_run_processes(run_dir) == []
    # A Ray cluster that is not the run's own is untouched.
    assert len(unrelated_cluster.alive_members()) == len(unrelated_cluster.members)


@pytest.mark.no_timing  # a 2 s timeout during the start: slower only makes it surer
def test_hard_timeout_during_cluster_start_leaves_nothing(tmp_path):
    """The scenario's timeout fires while the cluster is still starting."""
    path = scenario_file(tmp_path, {"name": "too-slow", "duration_s": 1, "timeout_s": 2})
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results)]) == 3
    run_dir = (results / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["error"]["kind"] == "timeout"
    assert read_junit(run_dir).errors == 1
    assert surviving_run_processes(run_dir) == []
