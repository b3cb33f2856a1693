"""A small Ray driver script, run by the `script` workload as Ray's release tests are.

    python configs/scripts/tasks_driver.py [--tasks N] [--fail]

Connects to the cluster named by RAY_ADDRESS, runs N tasks, checks their results
and writes its metrics to the JSON file named by TEST_OUTPUT_JSON. Exits 1 if a
result is wrong (or with --fail, to see a failing workload).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import ray


@ray.remote(num_cpus=0.1)
def square(x: int) -> int:
    return x * x


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    ray.init(logging_level="WARNING", log_to_driver=False)  # RAY_ADDRESS says where
    results = ray.get([square.remote(i) for i in range(args.tasks)])
    wrong = sum(1 for i, r in enumerate(results) if r != i * i)
    output = {"time": round(time.monotonic() - started, 3), "tasks": len(results), "wrong": wrong}
    with open(os.environ["TEST_OUTPUT_JSON"], "w", encoding="utf-8") as handle:
        json.dump(output, handle)
    ray.shutdown()
    return 1 if wrong or args.fail else 0


if __name__ == "__main__":
    sys.exit(main())
