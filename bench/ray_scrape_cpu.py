"""What scraping Ray's metrics costs the harness: CPU per second of run (docs/prometheus.md).

    python -m bench.ray_scrape_cpu [--seconds 30] [--out results/bench-ray-scrape.json]

Starts a local 2-node cluster and the built-in app (autoscaling, as an SLO on Ray's
metrics would judge it), sends a little traffic so Serve's request metrics exist, then
scrapes both nodes at the recorder's default cadence (0.5 s) for --seconds, exactly as
harness.run.ray_scrape does (the kept families: two an SLO would name). Reported: the
scraping thread's CPU per second of run, CPU and wall per scrape, the endpoint's size,
and what a full parse of everything it exports would cost instead (why only the named
families are parsed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.app import deploy
from harness.app.serve_config import legacy_config
from harness.cluster import local as cluster_mod
from harness.model.scenario import AppSpec, ClusterSpec
from harness.procs.ledger import ProcessLedger
from harness.run.ray_scrape import scrape

KEEP = {"ray_serve_autoscaling_target_replicas", "ray_serve_num_http_requests"}
INTERVAL_S = 0.5


def traffic(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            urllib.request.urlopen(url, timeout=5).read()  # noqa: S310 - 127.0.0.1
        except OSError:
            pass
        stop.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    spec = ClusterSpec.model_validate({"nodes": [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 2}],
                                       "system_config": {"metrics_report_interval_ms": 1000}})
    app = AppSpec.model_validate({"deployments": [{"name": "Echo", "autoscaling_config": {
        "min_replicas": 1, "max_replicas": 2}, "ray_actor_options": {"num_cpus": 0.25}}]})
    root = cluster_mod.make_temp_root("bench")
    cluster_mod.prepare_process_env(root, [])
    ledger = ProcessLedger("bench", root / "owned.json")
    handle = cluster_mod.start_local_cluster(spec, ledger, root)
    stop = threading.Event()
    try:
        port = cluster_mod.free_port()
        client = deploy.start_serve(port, owned_cluster=True)
        config = legacy_config(app, 0)
        deploy.deploy(client, config)
        url = f"http://127.0.0.1:{deploy.serve_http_port(client, port)}"
        deploy.wait_ready(config, url, 90)
        sender = threading.Thread(target=traffic, args=(url + "/", stop), daemon=True)
        sender.start()
        ports = {name: node.metrics_port for name, node in handle.nodes.items()}
        time.sleep(3)  # the first metrics reach the agents
        cpu_per_scrape, wall_per_scrape, kept = [], [], 0
        cpu0, started = time.thread_time(), time.monotonic()
        next_at = started
        while time.monotonic() - started < args.seconds:
            for node_port in ports.values():
                c, w = time.thread_time(), time.perf_counter()
                _, samples = scrape(node_port, KEEP)
                cpu_per_scrape.append((time.thread_time() - c) * 1000)
                wall_per_scrape.append((time.perf_counter() - w) * 1000)
                kept = max(kept, len(samples))
            next_at += INTERVAL_S
            time.sleep(max(0.0, next_at - time.monotonic()))
        wall = time.monotonic() - started
        cpu = time.thread_time() - cpu0
        text = urllib.request.urlopen(f"http://127.0.0.1:{ports['head']}/metrics", timeout=5).read().decode()  # noqa: S310
        full = []
        for _ in range(10):
            c = time.thread_time()
            families = list(text_string_to_metric_families(text))
            full.append((time.thread_time() - c) * 1000)
        result = {
            "nodes": len(ports), "interval_s": INTERVAL_S, "seconds": round(wall, 1),
            "scrapes": len(cpu_per_scrape),
            "cpu_s_per_s": round(cpu / wall, 4),
            "cpu_ms_per_scrape_median": round(statistics.median(cpu_per_scrape), 2),
            "wall_ms_per_scrape_median": round(statistics.median(wall_per_scrape), 2),
            "exposition_bytes_head": len(text), "families_head": len(families),
            "samples_head": sum(len(f.samples) for f in families), "samples_kept_max": kept,
            "full_parse_cpu_ms_median": round(statistics.median(full), 2),
        }
        print(json.dumps(result, indent=1))
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        stop.set()
        cluster_mod.stop_cluster(handle, ledger)
        shutil.rmtree(Path(root), ignore_errors=True)


if __name__ == "__main__":
    main()
