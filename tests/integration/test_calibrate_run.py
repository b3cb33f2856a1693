"""`harness calibrate` end to end: two seeded runs on one shared cluster, the table's
figures taken from the runs' own verdicts, exit 1 when an SLO failed in a run."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.cli import main
from harness.scenario.loader import load_scenario

SCENARIO = """
name: calibrate-short
seed: 40
duration_s: 3  # only the verdicts' figures are compared, no count
timeout_s: 120
cluster:
  nodes: [{name: head, num_cpus: 2, object_store_mb: 100}]
app:
  deployments: [{name: Echo, num_replicas: 1, ray_actor_options: {num_cpus: 0.5}}]
load: {users: 2, spawn_rate: 2, wait_ms: 50}
slos:
  - {name: served, check: "success_ratio >= 99%"}
  - {name: p99, check: "p(99) < 1s"}
  - {name: impossible traffic, check: "requests >= 100000"}
"""


def test_two_runs_share_a_cluster_and_report_each_slo(tmp_path: Path, capsys) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(SCENARIO)
    suggested = tmp_path / "suggested.yaml"
    code = main(["calibrate", str(path), "--runs", "2", "--seed-from", "100", "--margin", "50",
                 "--results", str(tmp_path / "results"), "--write-suggested", str(suggested)])
    out = capsys.readouterr().out
    assert code == 1, out  # the impossible SLO failed in both runs
    work = next((tmp_path / "results").glob("calibrate-calibrate-short-*"))
    report = json.loads((work / "calibration.json").read_text())
    assert report["seeds"] == [100, 101] and report["shared_cluster"] is True
    assert report["run_statuses"] == ["failed", "failed"] and report["errors"] == []
    assert len(list((work / "ray_logs").glob("cluster-*"))) == 1  # one cluster for both runs
    # Each run kept its results, and ran with its own seed.
    seeds = [yaml.safe_load((Path(d) / "scenario.yaml").read_text())["seed"] for d in report["run_dirs"]]
    assert seeds == [100, 101]
    by_name = {s["name"]: s for s in report["slos"]}
    for run_dir in report["run_dirs"]:
        verdicts = json.loads((Path(run_dir) / "summary.json").read_text())["verdicts"]
        for v in verdicts:
            assert by_name[v["name"]]["min"] <= v["measured"] <= by_name[v["name"]]["max"]
    assert by_name["served"]["passed"] == 2 and by_name["p99"]["passed"] == 2
    assert by_name["impossible traffic"]["passed"] == 0
    assert "failed in 2 of 2 runs" in by_name["impossible traffic"]["warnings"]
    assert "seeds 100, 101" in out
    scenario = load_scenario(suggested)
    checks = [s.check for s in scenario.slos]
    assert checks[2] == by_name["impossible traffic"]["suggested_check"]
    assert checks[1] == by_name["p99"]["suggested_check"] and checks[1].endswith("s")
