"""`harness bisect` end to end: a generated 5-commit app repository whose handler gets
slower at commit 3, bisected on one shared local cluster, names that commit.

Five commits and --broken-rate 0.99 keep it to 6 runs (8 with one flaky failure of a good
commit), each probe still decided by a real run, in both directions: commit 2 passes, commit 3
fails. The sequential rule's run counts are unit-tested (tests/unit/test_bisect_search.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from tests.fixtures.bisect_repo import make_repo

REGRESSION_AT = 3
SCENARIO = """
name: bisect-latency
seed: 3
duration_s: 3
timeout_s: 90
cluster:
  nodes: [{name: head, num_cpus: 2, object_store_mb: 100}]
app: {import_path: "latency_app:app", ready_timeout_s: 60}
load: {users: 2, spawn_rate: 2, wait_ms: 50}
slos:
  - {name: median latency, check: "p(50) < 60ms"}
  - {name: requests succeed, check: "success_ratio >= 99%"}
"""


def _ray_children() -> list[str]:
    return [p.name() for p in psutil.Process().children(recursive=True)
            if any(k in p.name() for k in ("raylet", "gcs_server", "ray::", "locust"))]


# `make slow`, not `make test`: 6 to 8 runs (about a minute) of what the sequential rule's unit
# tests and one run per probe already decide; README, "Two commands".
@pytest.mark.slow
def test_bisect_names_the_commit_that_slowed_the_app(tmp_path: Path, capsys) -> None:
    repo = tmp_path / "app"
    ids = make_repo(repo, commits=5, regression_at=REGRESSION_AT, bad_sleep_ms=150)
    scenario = tmp_path / "latency.yaml"
    scenario.write_text(SCENARIO)
    results = tmp_path / "results"
    argv = ["bisect", str(scenario), "--repo", str(repo), "--good", ids[0], "--bad", "main",
            "--flake-rate", "0.02", "--broken-rate", "0.99", "--results", str(results), "--json"]
    code = main(argv)
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["message"]
    assert doc["first_bad"]["sha"] == ids[REGRESSION_AT]
    assert doc["last_good"]["sha"] == ids[REGRESSION_AT - 1]
    latency = next(s for s in doc["slo_changes"] if s["slo"] == "median latency")
    assert latency["last_good"] < 60 <= latency["first_bad"]
    assert doc["clusters_started"] == 1  # every commit on one shared cluster
    assert doc["runs_total"] <= doc["run_budget"]
    folder = Path(doc["results_dir"])
    # The worktrees are gone and the user's checkout was never touched.
    assert not any((folder / "worktrees").glob("*"))
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(listed) == 1
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                          text=True, check=True).stdout == ""
    # The blamed commit's line in history.
    with sqlite3.connect(results / "history.sqlite") as db:
        rows = db.execute("SELECT suite, status, label FROM results").fetchall()
    assert rows == [("bisect", "failed", f"bisect first bad {ids[REGRESSION_AT][:12]}")]
    assert _ray_children() == []
    # Rerunning the same command resumes: nothing left to run, the same answer.
    state_runs = json.loads((folder / "bisect.json").read_text())
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["first_bad"] == doc["first_bad"] and again["runs_total"] == doc["runs_total"]
    assert sum(len(c["runs"]) for c in state_runs["commits"]) == doc["runs_total"]
    with sqlite3.connect(results / "history.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1  # blamed once

