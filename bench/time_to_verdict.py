"""Time to verdict for failing builds, with and without `--fail-fast` (issue 22).

Each variant is run by `harness run` in a child process (the Ray driver there), once
plainly and once with `--fail-fast`, and the table shows: the exit code, the wall time
from the command's start to its exit (cluster start, deploy, load, teardown, report),
the seconds of load played, and when the aborted SLO was decided.

    python -m bench.time_to_verdict [--variants no-load-shedding,queueing-overload] [--runs 1]

Run it under the cluster lock: flock /tmp/harness-ray.lock python -m bench.time_to_verdict
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, list[str]] = {
    # configs/release/seeded.yaml's no-load-shedding: the burst queues, its p99 fails
    "no-load-shedding": [str(ROOT / "configs/release/overload-app.yaml"),
                         "--set", "app.deployments.0.max_queued_requests=-1"],
    # an app that queues under a 20 s overload: requests time out, the error budget is spent
    "queueing-overload": [str(ROOT / "bench/scenarios/queueing-overload.yaml")],
}


def run_once(args: list[str], fail_fast: bool, results: Path) -> dict[str, object]:
    command = [sys.executable, "-m", "harness", "run", *args, "--results", str(results), "--json"]
    if fail_fast:
        command.append("--fail-fast")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    wall_s = time.monotonic() - started
    try:
        document = json.loads(done.stdout)
    except ValueError:
        return {"exit": done.returncode, "wall_s": wall_s, "error": done.stderr[-500:]}
    summary = json.loads((Path(document["run_dir"]) / "summary.json").read_text())
    load = next((w for w in summary.get("artifacts", {}).get("load_windows", []) if w["window"] == "load"), {})
    decided = [v for v in document["verdicts"] if v.get("aborted")]
    failed = [v["name"] for v in document["verdicts"] if not v["passed"]]
    return {
        "exit": done.returncode, "wall_s": round(wall_s, 1), "load_s": load.get("seconds"),
        "requests": load.get("requests"), "failed": failed,
        "decided_at_s": decided[0]["decided_at_s"] if decided else None,
        "aborted_slo": decided[0]["name"] if decided else None, "run_dir": document["run_dir"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--results", type=Path, default=None, help="keep the runs here (default: a temp dir)")
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ttv-") as scratch:
        tmp = opts.results or Path(scratch)
        for name in opts.variants.split(","):
            for run in range(opts.runs):
                for fail_fast in (False, True):
                    row = run_once(VARIANTS[name], fail_fast, Path(tmp) / f"{name}-{run}-{int(fail_fast)}")
                    row.update(variant=name, fail_fast=fail_fast)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"{platform.python_version()}")
    print(f"{'variant':<20} {'fail-fast':<9} {'exit':>4} {'wall s':>7} {'load s':>7} {'decided at':>10}  aborted SLO")
    for row in rows:
        decided = "-" if row.get("decided_at_s") is None else f"{row['decided_at_s']:.1f}"
        print(f"{row['variant']:<20} {'yes' if row['fail_fast'] else 'no':<9} {row['exit']:>4} "
              f"{row['wall_s']:>7} {row.get('load_s') or '-':>7} {decided:>10}  {row.get('aborted_slo') or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
