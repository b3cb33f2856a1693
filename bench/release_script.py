"""A release check written by hand, as a release engineer would without the harness.

The same work as `harness run bench/scenarios/run-vs-script.yaml`: a 3-node Ray
cluster on this machine (ray.cluster_utils.Cluster, every node on 127.0.0.1), an
echo app with 2 replicas (serve.run), 4 client threads for 10 s, the raylet of one
worker node SIGKILLed 5 s into the load, then the checks (success ratio, time until
requests succeed again after the kill) and teardown. Exit 0 when the checks pass.

    python -m bench.release_script [--seconds 10] [--kill-at 5]

bench/run_vs_script.py times it against the harness. It starts a Ray cluster: run it
under the cluster lock (flock /tmp/harness-ray.lock ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on 127.0.0.1 (read at import)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
import requests  # noqa: E402
from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

MB = 1024 * 1024
# Ray declares a dead node after period x threshold (default ~15 s); the harness scenario sets the same.
HEALTH_CHECKS = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 500}


@serve.deployment(num_replicas=2, max_ongoing_requests=8, ray_actor_options={"num_cpus": 0.5})
class Echo:
    async def __call__(self, request: object) -> str:
        await asyncio.sleep(random.uniform(0.002, 0.008))
        return "x" * 256


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client(url: str, stop: threading.Event, results: list[tuple[float, bool]]) -> None:
    session = requests.Session()
    while not stop.is_set():
        try:
            ok = session.get(url, timeout=3).status_code == 200
        except requests.RequestException:
            ok = False
        results.append((time.time(), ok))
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    opts = parser.parse_args()
    temp = tempfile.mkdtemp(prefix="rs-", dir="/tmp")  # short: Ray puts sockets in it
    os.environ["RAY_TMPDIR"] = temp  # Ray writes ray_current_cluster under $RAY_TMPDIR/ray
    os.makedirs(f"{temp}/ray")
    node = {"object_store_memory": 100 * MB, "node_ip_address": "127.0.0.1", "temp_dir": f"{temp}/ray"}

    t0 = time.monotonic()
    took: dict[str, float] = {}
    report: dict[str, object] = {}
    cluster = Cluster(initialize_head=True, head_node_args={
        **node, "num_cpus": 2, "include_dashboard": False, "_system_config": HEALTH_CHECKS})
    workers = [cluster.add_node(**node, num_cpus=2) for _ in range(2)]
    try:
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        cluster.wait_for_nodes()
        took["cluster_s"] = time.monotonic() - t0
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(Echo.bind(), route_prefix="/")
        url = f"http://127.0.0.1:{port}/"
        took["ready_s"] = time.monotonic() - t0 - took["cluster_s"]

        stop, results = threading.Event(), []
        threads = [threading.Thread(target=client, args=(url, stop, results)) for _ in range(opts.clients)]
        started = time.time()
        for thread in threads:
            thread.start()
        time.sleep(opts.kill_at)
        raylet = workers[0].all_processes[ray._private.ray_constants.PROCESS_TYPE_RAYLET][0].process
        killed_at = time.time()
        os.kill(raylet.pid, signal.SIGKILL)
        time.sleep(max(0.0, started + opts.seconds - time.time()))
        stop.set()
        for thread in threads:
            thread.join()
        took["load_s"] = time.time() - started

        ok = sum(1 for _, good in results if good)
        ratio = ok / len(results) if results else 0.0
        after = [(t, good) for t, good in results if t >= killed_at]
        last_bad = max((t for t, good in after if not good), default=None)
        recovery = 0.0 if last_bad is None else next(
            (t - killed_at for t, good in after if good and t > last_bad), float("inf"))
        checks = {"success_ratio >= 90%": ratio >= 0.90, "recovery < 8 s": recovery < 8.0}
        report.update(requests=len(results), success_ratio=round(ratio, 4), recovery_s=round(recovery, 3),
                      checks=checks)
        return 0 if all(checks.values()) else 1
    finally:
        t1 = time.monotonic()
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        took["teardown_s"] = time.monotonic() - t1
        print(json.dumps({**report, "seconds": {k: round(v, 3) for k, v in took.items()}}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
