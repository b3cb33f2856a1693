"""Locust workers as Ray actors (`load.placement: cluster`) against local workers, on a local cluster.

    flock /tmp/harness-ray.lock python -m bench.load_workers_cluster \
        [--nodes 4] [--workers 1,2,4] [--rate-per-worker 500] [--seconds 8] [--out results/bench-load-cluster.json]

Starts a local Ray cluster (a head with 0 CPUs and --nodes worker nodes, one CPU each) and
one trivial endpoint (bench.load_server) per worker, so the endpoint is never the
bottleneck. For each worker count N: the open model at N x rate-per-worker req/s,
uniform arrivals, first with N workers placed as actors on N distinct nodes
(harness.load.cluster_workers), then with N local worker processes (placement local). Per run:
records lost between the workers and the timeline (must be 0), the achieved rate
(requests inside the load window / its length) against the target, sends dropped, and
the generator's CPU per request (the Locust workers' own CPU from their reports, plus,
for actors, the actors' CPU). The output records where it ran: cores, nodes, load average.

The 16-core check of issue 16 (4 workers reach at least 3x the rate of one) is
`--nodes 16 --workers 1,4 --rate-per-worker 6000` there (6000: near what one Locust
process sustains, docs/benchmarks.md), and reads `scaling_4_over_1`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from bench.load_server import running_server
from harness.cluster import local as cluster_mod
from harness.load.cluster_workers import ClusterWorkers, Target, alive_nodes
from harness.load.process import LoadProcess
from harness.measure.timeline import (
    EVENTS_FILE,
    TIMELINE_DIR,
    Timeline,
    TimelineWriter,
    read_stream,
)
from harness.model.load_spec import LoadSpec
from harness.model.scenario import ClusterSpec
from harness.model.worker_placement import plan_placement
from harness.procs.ledger import ProcessLedger

ROOT = Path(__file__).resolve().parent.parent


def load_spec(rate: float, workers: int, placement: str) -> LoadSpec:
    return LoadSpec.model_validate({
        "model": "open", "rate": rate, "arrivals": "uniform", "workers": workers, "placement": placement,
        "max_lag_ms": 1000, "max_in_flight": 2000, "request_timeout_s": 5, "max_dropped": 10**9,
        **({"target": "head"} if placement == "cluster" else {}),
    })


def actor_cpu(workers: ClusterWorkers | None) -> float:
    """CPU seconds of the actors' own processes (they pull and hand over the records)."""
    total = 0.0
    for worker in workers.workers if workers is not None else []:
        try:
            times = psutil.Process(int(worker.info["actor_pid"])).cpu_times()
            total += times.user + times.system
        except (psutil.Error, KeyError):
            pass
    return total


def one_run(out_dir: Path, urls: list[str], handle: Any, ledger: ProcessLedger, n: int, rate: float,
            seconds: float, placement: str) -> dict[str, Any]:
    run_dir = out_dir / f"{placement}-{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    spec = load_spec(rate, n, placement)
    events = TimelineWriter(run_dir / TIMELINE_DIR / EVENTS_FILE)
    workers = None
    if placement == "cluster":
        placements = plan_placement(alive_nodes(handle), n, None)
        targets = [Target(urls[(p.worker - 1) % len(urls)], None) for p in placements]
        workers = ClusterWorkers(placements=placements, targets=targets, timeline_dir=run_dir / TIMELINE_DIR,
                                 events=events, ledger=ledger)
    load = LoadProcess(run_dir=run_dir, spec=spec, target_url=urls[0], duration_s=seconds, seed=1, ledger=ledger,
                       cluster_workers=workers)
    cpu_actors = 0.0
    try:
        load.start()
        load.wait_started(spec.start_timeout_s)
        deadline = time.monotonic() + seconds + load.stop_timeout_s() + 30
        base = actor_cpu(workers)
        while load.poll() is None and time.monotonic() < deadline:
            cpu_actors = actor_cpu(workers) - base
            time.sleep(0.2)
    finally:
        load.stop()
        events.close()
    reports = [r for r in load.reports() if r.get("role") != "master"]  # the sending processes
    timeline = Timeline.load(run_dir)
    window = timeline.window("load")
    requests = timeline.requests_in(window) if window is not None else []
    streams = {int(p.name[len("requests-w"):-len(".jsonl")]): sum(1 for _ in read_stream(p))
               for p in (run_dir / TIMELINE_DIR).glob("requests-w*.jsonl")}
    written = sum(int(r.get("records", 0)) + 1 for r in reports)
    cpu_workers = sum(float(r.get("cpu_s", 0)) for r in reports)
    made = max(1, len(requests))
    return {
        "placement": placement, "workers": n, "target_rps": rate,
        "achieved_rps": round(len(requests) / window.duration, 1) if window is not None else 0.0,
        "requests": len(requests), "dropped": sum(int(r.get("dropped", 0)) for r in reports),
        "records_written": written, "records_on_timeline": sum(streams.values()),
        # Local workers write the timeline themselves: only streamed records can be lost on the way.
        "records_lost": written - sum(streams.values()) if placement == "cluster" and reports else None,
        "reports": len(reports), "invalid": load.invalid_reason(),
        "worker_cpu_ms_per_request": round(1000.0 * cpu_workers / made, 3),
        "actor_cpu_ms_per_request": round(1000.0 * cpu_actors / made, 3),
        "worker_nodes": sorted(w.placement.node.name for w in workers.workers) if workers is not None else [],
    }


@contextlib.contextmanager
def local_cluster(nodes: int, ledger: ProcessLedger) -> Iterator[Any]:
    spec = ClusterSpec.model_validate({
        "nodes": [{"name": "head", "num_cpus": 0}] + [{"name": f"n{i}", "num_cpus": 1} for i in range(1, nodes + 1)],
        "start_timeout_s": 60 + 10 * nodes,
    })
    temp_root = cluster_mod.make_temp_root(f"bench-{os.getpid()}")
    cluster_mod.prepare_process_env(temp_root, [])
    handle = cluster_mod.start_local_cluster(spec, ledger, temp_root)
    try:
        yield handle
    finally:
        cluster_mod.stop_cluster(handle, ledger)
        ledger.kill_survivors()
        shutil.rmtree(temp_root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=4, help="worker nodes of the local cluster")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run, comma-separated")
    parser.add_argument("--rate-per-worker", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", default="results/bench-load-cluster.json")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    if max(counts) > args.nodes:
        parser.error(f"--workers up to {max(counts)} needs --nodes >= {max(counts)} (one worker per node)")
    out_path = Path(args.out)
    out_dir = out_path.parent / (out_path.stem + "-runs")
    ledger = ProcessLedger("bench-load-cluster")
    where = {"cores": os.cpu_count(), "nodes": args.nodes + 1, "worker_nodes": args.nodes,
             "load_avg_before": [round(x, 2) for x in os.getloadavg()]}
    rows = []
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(running_server())[0] for _ in range(max(counts))]
        handle = stack.enter_context(local_cluster(args.nodes, ledger))
        for n in counts:
            for placement in ("cluster", "local"):
                row = one_run(out_dir, urls, handle, ledger, n, n * args.rate_per_worker, args.seconds, placement)
                rows.append(row)
                print(json.dumps(row), flush=True)
    where["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    rate = {r["workers"]: r["achieved_rps"] for r in rows if r["placement"] == "cluster"}
    result = {"where": where, "seconds": args.seconds, "rate_per_worker": args.rate_per_worker, "runs": rows,
              "scaling_4_over_1": round(rate[4] / rate[1], 2) if 1 in rate and 4 in rate and rate[1] else None}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
