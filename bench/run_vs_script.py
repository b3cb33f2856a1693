"""A run's own overhead: `harness run` against a hand-written script doing the same work.

Runs `harness run bench/scenarios/run-vs-script.yaml` and `python -m bench.release_script`
(3 nodes, 2 replicas, 10 s of load, a raylet SIGKILLed 5 s in, checks, teardown) in
turn, each in a child process timed from its start to its exit (time to verdict), the
order flipped every round so that drift on a shared machine hits both alike. Prints
each run, the medians and their ratio (target: harness <= 0.9x the script), the
harness's phases and the app-ready wait step by step.

    python -m bench.run_vs_script [--rounds 3] [--root PATH] [--json FILE]

--root: the checkout whose harness is timed (default: this one), e.g. a worktree of an
older commit for a before/after figure with the same script. Run it under the cluster
lock: flock /tmp/harness-ray.lock python -m bench.run_vs_script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.suite_overhead import phase_edges

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "bench/scenarios/run-vs-script.yaml"
TARGET = 0.9


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def run_script(timeout_s: float = 300) -> dict[str, Any]:
    spawned = time.time()
    done = subprocess.run([sys.executable, "-m", "bench.release_script"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout_s)
    wall = time.time() - spawned
    row: dict[str, Any] = {"who": "script", "exit": done.returncode, "wall_s": round(wall, 2)}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        report = json.loads(lines[-1])
        row.update(success_ratio=report.get("success_ratio"), recovery_s=report.get("recovery_s"),
                   phases=report.get("seconds", {}))
    else:
        row["error"] = done.stderr[-400:]
    return row


def _phases(run_dir: Path, spawned: float, exited: float) -> dict[str, float]:
    """The harness's phases, from its timeline and summary.json (wall clock, seconds)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    edges = phase_edges(run_dir)
    timings = summary.get("timings", {})
    out: dict[str, float] = {}
    run_start, run_end = edges.get(("run", "start")), edges.get(("run", "end"))
    if run_start is None or run_end is None:
        return out
    out["startup"] = run_start - spawned  # interpreter, imports, validation, reaper
    out["cluster start"] = edges[("cluster_start", "end")] - edges[("cluster_start", "start")]
    app_end = edges.get(("app_deploy", "end"))
    if app_end is not None:
        out["app ready"] = app_end - edges[("app_deploy", "start")]
    load_start, load_end = edges.get(("load", "start")), edges.get(("load", "end"))
    if load_start is not None and app_end is not None:
        out["load start"] = load_start - app_end  # components, Locust's start
    if load_start is not None and load_end is not None:
        out["load"] = load_end - load_start
    teardown = timings.get("teardown_s", 0.0)
    if load_end is not None:
        out["settle"] = run_end - teardown - load_end  # Locust's stop, cooldown
    out["teardown"] = teardown
    judge = timings.get("judge_s")
    ended = summary.get("ended_at") or run_end
    if judge is not None:
        out["judge"] = judge
    out["reports, exit"] = exited - ended
    if judge is None:
        out["judge, reports, exit"] = exited - run_end
        out.pop("reports, exit")
    return {k: round(v, 3) for k, v in out.items()}


def run_harness(root: Path, results: Path, timeout_s: float = 300) -> dict[str, Any]:
    spawned = time.time()
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(ROOT / SCENARIO), "--results", str(results),
                           "--json"], cwd=root, env=_env(), capture_output=True, text=True, timeout=timeout_s)
    exited = time.time()
    row: dict[str, Any] = {"who": "harness", "exit": done.returncode, "wall_s": round(exited - spawned, 2)}
    try:
        run_dir = Path(json.loads(done.stdout)["run_dir"])
    except (ValueError, KeyError):
        row["error"] = done.stderr[-400:]
        return row
    summary = json.loads((run_dir / "summary.json").read_text())
    row["phases"] = _phases(run_dir, spawned, exited)
    row["app_ready_steps"] = summary.get("artifacts", {}).get("app_ready_steps")
    row["teardown_steps"] = summary.get("artifacts", {}).get("teardown_steps")
    row["run_dir"] = str(run_dir)
    return row


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r["phases"][key] for r in rows if key in r.get("phases", {})]
    return round(statistics.median(values), 2) if values else None


def explain_ready(steps: list[dict[str, Any]]) -> list[str]:
    """The app-ready wait step by step (medians over the runs), in seconds since Serve's start was asked."""
    def med(key: str) -> float | None:
        values = [s[key] for s in steps if isinstance(s.get(key), (int, float))]
        return statistics.median(values) if values else None

    first_replica = med_list(steps, 0)
    last_replica = med_list(steps, -1)
    marks = [
        ("serve start returned (controller actor, HTTP options; proxy on the head)", med("serve_started_s")),
        ("deploy sent to the controller", med("deploy_sent_s")),
        ("controller took the config (Serve's last_deployed_time_s)", med("deployed_after_s")),
        ("first replica actor started (Serve's start_time_s)", first_replica),
        ("last replica actor started", last_replica),
        ("last poll that saw the app not ready yet", med("last_not_ready_s")),
        ("first poll that saw every app RUNNING (replicas up, health checks passed)", med("running_after_s")),
        ("proxy routes the app: wait over", med("routed_after_s")),
    ]
    lines, previous = [], 0.0
    for text, at in marks:
        if at is None:
            continue
        lines.append(f"  {at:6.2f} s  (+{max(0.0, at - previous):5.2f})  {text}")
        previous = max(previous, at)
    polls = med("polls")
    if polls is not None:
        lines.append(f"  readiness polls: {polls:g} (median)")
    return lines


def med_list(steps: list[dict[str, Any]], index: int) -> float | None:
    values = [s["replicas_started_after_s"][index] for s in steps if s.get("replicas_started_after_s")]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose harness is timed")
    parser.add_argument("--base", type=Path, default=None,
                        help="also time the harness of this checkout each round (before/after in one run)")
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    opts = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, harness from {opts.root}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rvs-") as tmp:
        for index in range(opts.rounds):
            order = ("harness", "script") if index % 2 == 0 else ("script", "harness")
            if opts.base is not None:
                order = (*order, "base") if index % 2 == 0 else ("base", *order)
            for who in order:
                if who == "script":
                    row = run_script()
                else:
                    row = run_harness(opts.root if who == "harness" else opts.base, Path(tmp) / f"{who}{index}")
                    row["who"] = who
                row["round"] = index + 1
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items()
                                  if k not in ("app_ready_steps", "teardown_steps", "run_dir")}),
                      flush=True)
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=1))
    harness = [r for r in rows if r["who"] == "harness" and r["exit"] == 0]
    script = [r for r in rows if r["who"] == "script" and r["exit"] == 0]
    if not harness or not script:
        print("no comparison: a side failed every round (see the rows above)")
        return 1
    h = statistics.median(r["wall_s"] for r in harness)
    s = statistics.median(r["wall_s"] for r in script)
    ratio = h / s
    print(f"\ntime to verdict, median of {len(harness)} / {len(script)} runs: harness {h:.1f} s, "
          f"script {s:.1f} s, ratio {ratio:.2f} (target <= {TARGET}) {'OK' if ratio <= TARGET else 'OVER'}")
    # Round by round (the two sides of one round ran back to back): how robust the median is.
    by_round = {(r["round"], r["who"]): r["wall_s"] for r in rows if r["exit"] == 0}
    rounds = sorted({r["round"] for r in rows})
    print("ratio round by round: " + ", ".join(
        f"{by_round[(n, 'harness')] / by_round[(n, 'script')]:.2f}" if (n, "harness") in by_round
        and (n, "script") in by_round else "-" for n in rounds))
    base = [r for r in rows if r["who"] == "base" and r["exit"] == 0]
    if base:
        print("base ratio round by round: " + ", ".join(
            f"{by_round[(n, 'base')] / by_round[(n, 'script')]:.2f}" if (n, "base") in by_round
            and (n, "script") in by_round else "-" for n in rounds))
        b = statistics.median(r["wall_s"] for r in base)
        print(f"base harness ({opts.base}): {b:.1f} s, ratio {b / s:.2f}")
    print(f"load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\nharness phases (median s):")
    keys = [k for k in harness[0]["phases"]]
    for key in keys:
        print(f"  {key:<22} {_median(harness, key)}")
    if base:
        print("base harness phases (median s):")
        for key in base[0]["phases"]:
            print(f"  {key:<22} {_median(base, key)}")
    print("script phases (median s):")
    for key in script[0].get("phases", {}):
        print(f"  {key:<22} {round(statistics.median(r['phases'][key] for r in script), 2)}")
    steps = [r["app_ready_steps"] for r in harness if r.get("app_ready_steps")]
    if steps:
        print("\napp ready, step by step (median s since Serve's start was asked; +gap to the step before):")
        print("\n".join(explain_ready(steps)))
    teardowns = [r["teardown_steps"] for r in harness if r.get("teardown_steps")]
    if teardowns:
        print("\nteardown, step by step (median s):")
        for key in teardowns[0]:
            values = [t[key] for t in teardowns if key in t]
            print(f"  {key:<30} {statistics.median(values):.2f}")
    print(f"\n{platform.python_version()}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
