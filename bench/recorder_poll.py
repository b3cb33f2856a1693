"""How long one recorder poll takes on a local 2-node cluster, by part.

    python -m bench.recorder_poll [--polls 40]

Starts a cluster and the built-in app (autoscaling, 1 replica), then times each
part of a poll. The recorder samples at 2 Hz only if a whole poll stays under
0.5 s; the README quotes the medians measured here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from harness.app import deploy
from harness.app.serve_config import legacy_config
from harness.cluster import local as cluster_mod
from harness.model.scenario import AppSpec, ClusterSpec
from harness.procs.ledger import ProcessLedger
from harness.run import recorder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=40)
    polls = parser.parse_args().polls
    spec = ClusterSpec.model_validate({"nodes": [
        {"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 2},
    ]})
    app = AppSpec.model_validate({"deployments": [{"name": "Echo", "autoscaling_config": {
        "min_replicas": 1, "max_replicas": 2}, "ray_actor_options": {"num_cpus": 0.25}}]})
    root = cluster_mod.make_temp_root("bench")
    cluster_mod.prepare_process_env(root, [])
    ledger = ProcessLedger("bench", root / "owned.json")
    handle = cluster_mod.start_local_cluster(spec, ledger, root)
    try:
        port = cluster_mod.free_port()
        client = deploy.start_serve(port, owned_cluster=True)
        config = legacy_config(app, 0)
        deploy.deploy(client, config)
        deploy.wait_ready(config, f"http://127.0.0.1:{deploy.serve_http_port(client, port)}", 90)
        parts = {"serve_details": recorder.serve_details, "cluster": recorder.cluster_sample}
        timings: dict[str, list[float]] = {name: [] for name in parts}
        for _ in range(polls):
            for name, fn in parts.items():
                t0 = time.perf_counter()
                fn()
                timings[name].append((time.perf_counter() - t0) * 1000)
        for name, values in timings.items():
            print(f"{name:14s} median {statistics.median(values):7.1f} ms   "
                  f"p90 {sorted(values)[int(0.9 * len(values))]:7.1f} ms")
    finally:
        cluster_mod.stop_cluster(handle, ledger)
        import shutil

        shutil.rmtree(Path(root), ignore_errors=True)


if __name__ == "__main__":
    main()
