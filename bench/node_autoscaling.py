"""Node autoscaling: time from a demand to the new node's first replica RUNNING, and SLO spread.

Runs `harness run configs/scenarios/node_autoscaling.yaml` N times in subprocesses and
reads each run's timeline: when the burst's demand for an A100 first showed up unmet
(`nodes` records), when the second A100 node was alive, and when Echo's second replica
was RUNNING (`sample` records). Also prints every SLO's measured value (min/median/max)
and each run's status, so the same command answers "does it pass N of N".

    python -m bench.node_autoscaling [--runs 5] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "configs/scenarios/node_autoscaling.yaml"


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "timeline" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def demand_to_running(records: list[dict[str, Any]], node_type: str = "A100", deployment: str = "Echo",
                      wanted: int = 2) -> dict[str, float | None]:
    """Seconds from the first unmet demand for the type (after load start) to its node and replica."""
    load = next((r["t"] for r in records if r.get("kind") == "phase" and r.get("name") == "load"
                 and r.get("edge") == "start"), 0.0)
    demand_t = next((r["t"] for r in records if r.get("kind") == "nodes" and r["t"] >= load
                     and any(node_type in shape for shape, _ in r.get("demand") or [])), None)
    if demand_t is None:
        return {"demand_to_node_s": None, "demand_to_replica_s": None}
    node_t = next((r["t"] for r in records if r.get("kind") == "nodes" and r["t"] >= demand_t
                   and (r.get("types") or {}).get(node_type, {}).get("alive", 0) >= wanted), None)
    replica_t = next((r["t"] for r in records if r.get("kind") == "sample" and r["t"] >= demand_t
                      and (r.get("deployments") or {}).get(deployment, {}).get("running", 0) >= wanted), None)
    return {"demand_to_node_s": None if node_t is None else round(node_t - demand_t, 2),
            "demand_to_replica_s": None if replica_t is None else round(replica_t - demand_t, 2)}


def one_run(results: Path, overrides: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "harness", "run", SCENARIO, "--results", str(results)]
    for item in overrides:
        cmd += ["--set", item]
    code = subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    run_dir = (results / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    row: dict[str, Any] = {"exit": code, "status": summary["status"]}
    row.update(demand_to_running(events(run_dir)))
    row["slos"] = {v["name"]: (v["measured"], v["passed"]) for v in summary["verdicts"]}
    return row


def spread(values: list[float]) -> str:
    if not values:
        return "no data"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
        for index in range(args.runs):
            row = one_run(Path(tmp) / f"r{index}", args.overrides)
            rows.append(row)
            failed = [name for name, (_, ok) in row["slos"].items() if not ok]
            print(f"run {index + 1}: exit={row['exit']} status={row['status']} "
                  f"demand->node={row['demand_to_node_s']}s demand->replica RUNNING={row['demand_to_replica_s']}s"
                  f"{' failed: ' + ', '.join(failed) if failed else ''}", flush=True)
    passed = sum(1 for r in rows if r["exit"] == 0)
    print(f"\n{passed} of {len(rows)} runs passed\n\n| measure | min / median / max |\n| --- | --- |")
    for key in ("demand_to_node_s", "demand_to_replica_s"):
        print(f"| {key} | {spread([r[key] for r in rows if r[key] is not None])} |")
    for name in rows[0]["slos"] if rows else []:
        values = [r["slos"][name][0] for r in rows if isinstance(r["slos"].get(name, (None,))[0], (int, float))]
        print(f"| {name} | {spread([v for v in values if v != float('inf')])} |")


if __name__ == "__main__":
    main()
