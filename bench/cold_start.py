"""Cold start, teardown and harness CPU for the smoke scenario, as a user runs it.

Runs `harness run configs/scenarios/smoke.yaml` N times in subprocesses and reads
each run's summary.json: cluster up + app ready (cold start), teardown time, and
the harness process's own CPU while load runs (% of one core).

    python -m bench.cold_start [--runs 3] [--scenario configs/scenarios/smoke.yaml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(scenario: str, results: Path) -> dict[str, float]:
    subprocess.run(
        [sys.executable, "-m", "harness", "run", scenario, "--results", str(results)],
        cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    summary = json.loads((results / "latest" / "summary.json").read_text())
    timings = summary["timings"]
    return {
        "cold_start_s": timings["cluster_start_s"] + timings["app_ready_s"],
        "cluster_start_s": timings["cluster_start_s"],
        "app_ready_s": timings["app_ready_s"],
        "teardown_s": timings["teardown_s"],
        "harness_cpu_pct": summary["metrics"].get("harness_cpu_percent_during_load", float("nan")),
        "status": summary["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="configs/scenarios/smoke.yaml")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        for index in range(args.runs):
            row = one_run(args.scenario, Path(tmp) / f"r{index}")
            rows.append(row)
            print(f"run {index + 1}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in row.items()), flush=True)
    print("\n| metric | median | min | max | target |")
    print("| --- | --- | --- | --- | --- |")
    targets = {"cold_start_s": "<= 20 s", "teardown_s": "<= 5 s", "harness_cpu_pct": "< 10 %"}
    for key in ("cold_start_s", "cluster_start_s", "app_ready_s", "teardown_s", "harness_cpu_pct"):
        values = [r[key] for r in rows]
        print(f"| {key} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} "
              f"| {targets.get(key, '')} |")


if __name__ == "__main__":
    main()
