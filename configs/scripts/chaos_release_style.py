"""A chaos test written the way Ray's release chaos scripts are (test_chaos.py --workload=tasks).

    python configs/scripts/chaos_release_style.py [--tasks-per-cpu N] [--task-s S]
                                                  [--disable-resource-killer] [--never-start-killer]

Connects with ray.init(address="auto") (RAY_ADDRESS names the cluster), looks up the
`ResourceKiller` actor in namespace `release_test_namespace`, calls its run(), runs
nested tasks with max_retries=-1 (a task that calls another), checks every result,
waits until the cluster's available CPU equals its total again, calls stop_run() and
get_total_killed(), and writes its metrics to the JSON file named by TEST_OUTPUT_JSON
(`perf_metrics` as Ray's release tooling reads them). It imports nothing of the harness.
--never-start-killer looks the actor up but never calls run(): a script that forgot to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import ray


@ray.remote(num_cpus=0.5, max_retries=-1)
def leaf(i: int, sleep_s: float) -> int:
    time.sleep(sleep_s)
    return i * i


@ray.remote(num_cpus=0.5, max_retries=-1)
def invoke_nested_task(i: int, sleep_s: float) -> int:
    time.sleep(sleep_s)
    return ray.get(leaf.remote(i, sleep_s)) + 1


def wait_for_resources(timeout_s: float) -> float:
    """Seconds until available CPU == total CPU (Ray's consistency check); raises on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if ray.cluster_resources().get("CPU", 0) == ray.available_resources().get("CPU", 0):
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"available CPU != total CPU after {timeout_s:g}s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks-per-cpu", type=int, default=4)
    parser.add_argument("--task-s", type=float, default=0.5)
    parser.add_argument("--resources-timeout-s", type=float, default=60)
    parser.add_argument("--disable-resource-killer", action="store_true")
    parser.add_argument("--never-start-killer", action="store_true")
    args = parser.parse_args()

    ray.init(address="auto", logging_level="WARNING", log_to_driver=False)
    total_cpus = ray.cluster_resources()["CPU"]
    killer = None
    if not args.disable_resource_killer:
        killer = ray.get_actor("ResourceKiller", namespace="release_test_namespace")
        if not args.never_start_killer:
            killer.run.remote()
            print("ResourceKiller started", flush=True)

    start = time.time()
    count = int(total_cpus * args.tasks_per_cpu)
    results = ray.get([invoke_nested_task.remote(i, args.task_s) for i in range(count)])
    wrong = sum(1 for i, r in enumerate(results) if r != i * i + 1)
    reclaimed_s = wait_for_resources(args.resources_timeout_s)
    runtime_s = round(time.time() - start, 2)
    print(f"Total runtime: {runtime_s}", flush=True)

    total_killed = 0
    if killer is not None:
        killer.stop_run.remote()
        total_killed = ray.get(killer.get_total_killed.remote())
        print(f"Total node failures: {total_killed}", flush=True)

    results_json = {
        "time": runtime_s,
        "tasks": count,
        "wrong": wrong,
        "total_killed": total_killed,
        "perf_metrics": [
            {"perf_metric_name": "chaos_tasks_runtime_s", "perf_metric_value": runtime_s,
             "perf_metric_type": "LATENCY"},
            {"perf_metric_name": "chaos_tasks_resources_reclaimed_s", "perf_metric_value": round(reclaimed_s, 3),
             "perf_metric_type": "LATENCY"},
        ],
    }
    with open(os.environ["TEST_OUTPUT_JSON"], "w", encoding="utf-8") as handle:
        json.dump(results_json, handle)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
