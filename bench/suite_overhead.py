"""A suite's own overhead: what a suite costs beyond its scenarios' own load and cooldown.

Runs bench/suites/overhead.yaml (three short smoke scenarios on one shared cluster) the way
`harness suite` does (a SuiteSession in this process, the Ray driver, a fresh history
database), times each step and prints, per scenario, its phases: cluster acquire,
deploy, ready, load start, load, settle, teardown, judge, reports, history and what
is left between runs; then the suite's total against the sum of its load and cooldown
(target: at most 5 s a scenario), and which steps overlap and which cannot.

    python -m bench.suite_overhead [--suite bench/suites/overhead.yaml] [--root PATH] [--json FILE]

--root: time the harness of another checkout (e.g. a worktree of an older commit). Run it
under the cluster lock: flock /tmp/harness-ray.lock python -m bench.suite_overhead
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
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SUITE = ROOT / "bench/suites/overhead.yaml"
TARGET_S = 5.0

# What a suite cannot overlap, and why (printed with the figures).
CANNOT_OVERLAP = [
    "the shared cluster's start: before the first scenario, one cluster at a time on this machine",
    "a scenario's deploy with the previous scenario's load or cooldown: both would share the cores being "
    "measured, and an app of the same name must be gone before it is deployed again",
    "the new app's replica start (replica actors: a worker process each, Serve's import, the constructor, "
    "the first health check): Serve's own work, CPU-bound on 2 cores",
    "judging and reports with the scenario's own teardown: a verdict reads the whole run window, which "
    "ends after teardown",
]


def phase_edges(run_dir: Path) -> dict[tuple[str, str], float]:
    """(window, edge) -> the first time a run's timeline has it (both streams)."""
    edges: dict[tuple[str, str], float] = {}
    for stream in ("events", "requests"):
        path = run_dir / "timeline" / f"{stream}.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            record = json.loads(line)
            if record.get("kind") == "phase":
                edges.setdefault((record["name"], record["edge"]), record["t"])
    return edges


def run_phases(run_dir: Path, returned: float) -> dict[str, float]:
    """One run's phases from its summary.json and timeline (seconds)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    timings, edges = summary.get("timings", {}), phase_edges(run_dir)
    steps = summary.get("artifacts", {}).get("app_ready_steps") or {}
    out: dict[str, float] = {"cluster acquire": timings.get("cluster_start_s", 0.0)}
    app = edges.get(("app_deploy", "end"), 0.0) - edges.get(("app_deploy", "start"), 0.0)
    if steps:  # deploy: Serve's start (or connection), the previous app's deletion, the deploy call
        out["deploy"] = steps["deploy_sent_s"]
        out["ready"] = app - steps["deploy_sent_s"]
        out["of which previous app deleted"] = steps.get("previous_app_deleted_s", 0.0)
    else:
        ready = edges[("app_deploy", "end")] - edges[("app_deploy", "start")]
        out["deploy, ready"] = ready
    load_start, load_end = edges.get(("load", "start")), edges.get(("load", "end"))
    run_end = edges[("run", "end")]
    if load_start is not None:
        out["load start"] = load_start - edges[("app_deploy", "end")]
    if load_start is not None and load_end is not None:
        out["load"] = load_end - load_start
    cooldown = 0.0
    if ("cooldown", "end") in edges:
        cooldown = edges[("cooldown", "end")] - edges[("cooldown", "start")]
        out["cooldown"] = cooldown
    teardown = timings.get("teardown_s", 0.0)
    if load_end is not None:
        out["settle"] = run_end - teardown - load_end - cooldown
    out["teardown"] = teardown
    ended = summary.get("ended_at") or run_end
    out["judge"] = ended - run_end
    out["reports"] = returned - ended
    return {k: round(v, 3) for k, v in out.items()}


def measure(suite_file: Path, keep: Path | None) -> dict[str, Any]:
    """Run the suite in this process with timers around the session's steps."""
    from rich.console import Console

    from harness.cluster.pool import ClusterPool
    from harness.gate.history import History
    from harness.gate.session import SuiteSession
    from harness.gate.suite_config import QuarantineList, load_suite

    timers: dict[str, list[tuple[float, float]]] = {"acquire": [], "run": [], "judge": []}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name].append((t0, time.time()))
        return wrapper

    ClusterPool.acquire = timed("acquire", ClusterPool.acquire)
    SuiteSession._run_once = timed("run", SuiteSession._run_once)
    SuiteSession._judge = timed("judge", SuiteSession._judge)
    with tempfile.TemporaryDirectory(prefix="suite-ovh-") as tmp:
        results = keep or Path(tmp)
        started = time.time()
        resolved = load_suite(suite_file)
        session = SuiteSession(resolved, results, history=History(results / "history.sqlite"),
                               quarantine=QuarantineList(), console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
        entries: list[dict[str, Any]] = []
        for entry in resolved.entries:
            entry_started = time.time()
            result = session.run_entry(entry)
            entry_ended = time.time()
            attempt = result.attempts[-1]
            run_t0, run_t1 = timers["run"][-1]
            phases = run_phases(Path(attempt.run_dir), run_t1)
            acquire = [a for a in timers["acquire"] if a[0] >= entry_started]
            if acquire:  # the pool's acquire: the shared cluster's start for the first run
                phases["cluster acquire"] = round(phases["cluster acquire"] + acquire[-1][1] - acquire[-1][0], 3)
            judge = timers["judge"][-1]
            phases["history"] = round(judge[1] - judge[0], 3)
            accounted = sum(v for k, v in phases.items() if not k.startswith("of which"))
            phases["between"] = round(entry_ended - entry_started - accounted, 3)
            summary = json.loads((Path(attempt.run_dir) / "summary.json").read_text())
            entries.append({"name": entry.name, "status": result.status, "wall_s": round(entry_ended - entry_started, 3),
                            "phases": phases, "app_ready_steps": summary.get("artifacts", {}).get("app_ready_steps")})
        finish_started = time.time()
        outcome = session.finish()
        finished = time.time()
    load = sum(e["phases"].get("load", 0.0) + e["phases"].get("cooldown", 0.0) for e in entries)
    return {"entries": entries, "finish_s": round(finished - finish_started, 3),
            "total_s": round(finished - started, 3), "load_and_cooldown_s": round(load, 3),
            "exit_code": outcome.exit_code, "started_cluster": session.pool.started}


def report(doc: dict[str, Any]) -> bool:
    entries = doc["entries"]
    keys: list[str] = []
    for entry in entries:
        keys += [k for k in entry["phases"] if k not in keys]
    width = max(len(e["name"]) for e in entries)
    print(f"\n{'phase (s)':<30}" + "".join(f"{e['name']:>{width + 2}}" for e in entries))
    for key in keys:
        print(f"{key:<30}" + "".join(f"{e['phases'].get(key, 0.0):>{width + 2}.2f}" for e in entries))
    print(f"{'scenario wall':<30}" + "".join(f"{e['wall_s']:>{width + 2}.2f}" for e in entries))
    print(f"{'status':<30}" + "".join(f"{e['status']:>{width + 2}}" for e in entries))
    n = len(entries)
    overhead = doc["total_s"] - doc["load_and_cooldown_s"]
    per = overhead / n
    print(f"\nsuite total {doc['total_s']:.1f} s (finish: pool close and suite reports {doc['finish_s']:.1f} s), "
          f"load and cooldown {doc['load_and_cooldown_s']:.1f} s: overhead {overhead:.1f} s, "
          f"{per:.1f} s a scenario (target <= {TARGET_S:g}) {'OK' if per <= TARGET_S else 'OVER'}")
    once = sum(e["phases"].get("cluster acquire", 0.0) for e in entries) + doc["finish_s"]
    per_run = (overhead - once) / n
    print(f"of which once a suite: the shared cluster's start and the pool's close, {once:.1f} s "
          f"({once / n:.1f} s a scenario here); the rest, {per_run:.1f} s a scenario, is each run's own")
    later = entries[1:] or entries  # the first run also starts Serve on the new cluster
    print("each run's own overhead (mean of runs 2..n, s): " + ", ".join(
        f"{key} {sum(e['phases'].get(key, 0.0) for e in later) / len(later):.2f}"
        for key in keys if key not in ("load", "cooldown", "cluster acquire", "teardown")
        and not key.startswith("of which")))
    print("\noverlapped: each run asks Serve to delete its app on the shared cluster and goes on (judge, "
          "reports, history, the next run's setup); the next run waits for the deletion only before its "
          "deploy ('of which previous app deleted'), and ends the built-in app's stopping replicas at once "
          "rather than after Serve's graceful wait. The load process starts during the app-ready wait "
          "and sends from its go. The built-in app is built in the driver (no build task). The run that "
          "starts the shared cluster starts Serve's controller and proxy on a thread while the worker nodes "
          "join (its 'deploy' then holds only what is left of that start; 'serve start overlapped' below).")
    first = entries[0].get("app_ready_steps") or {}
    if first:
        print(f"serve start overlapped with the shared cluster's start: {first.get('serve_start_overlapped_s', 0.0):.2f} s "
              f"(on its thread); Serve's start left to the first deploy: {first.get('serve_started_s', 0.0):.2f} s")
    print("cannot overlap:")
    for line in CANNOT_OVERLAP:
        print(f"  - {line}")
    return per <= TARGET_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--root", type=Path, default=None, help="time the harness of this checkout")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    parser.add_argument("--keep", type=Path, default=None, help="keep the suite's results here")
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if opts.root is not None and not opts._child:  # the other checkout's harness, this benchmark
        env = {**os.environ, "PYTHONPATH": str(opts.root.resolve())}
        args = [a for a in sys.argv[1:]]
        return subprocess.run([sys.executable, str(HERE), *args, "--_child"], cwd=opts.root, env=env).returncode
    if opts._child and opts.root is not None:
        sys.path.insert(0, str(opts.root.resolve()))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, harness from {opts.root or ROOT}", flush=True)
    doc = measure(opts.suite.resolve(), opts.keep)
    if opts.json:
        opts.json.write_text(json.dumps(doc, indent=1))
    ok = report(doc)
    print(f"load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {platform.python_version()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
