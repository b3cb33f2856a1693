"""Chaos timing: planned vs actual injection time, and raylet kill -> node recorded dead.

Two parts:

  scheduler  the real ChaosComponent (scheduler thread, pool, fault proxy) firing a
             dense Poisson schedule of network faults, no cluster; optionally with
             CPU-burning threads in the same process to mimic a busy harness.
  proxy      what the fault proxy adds to a request in pass mode (every request of a
             scenario with a network fault goes through it): sequential GETs to a
             local HTTP server, direct and through the proxy.
  cluster    `harness run configs/scenarios/chaos.yaml` N times in subprocesses;
             reads every shot's lag and, for raylet kills, how long until the
             harness saw the node dead in ray.nodes().

    python -m bench.chaos_timing [--part all|scheduler|proxy|cluster] [--runs 2]
        [--shots-per-s 10] [--seconds 30] [--burners 1] [--default-health-checks]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console

from chaos.component import ChaosComponent
from harness.measure.timeline import TimelineWriter
from harness.model.context import RunContext
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict
from tests.fixtures.http_ok import serve_ok

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "configs/scenarios/chaos.yaml"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def _burn(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def scheduler_part(shots_per_s: float, seconds: float, burners: int) -> list[float]:
    server = serve_ok()
    port = server.server_address[1]
    data = {
        "name": "bench", "seed": 3, "duration_s": seconds, "timeout_s": seconds + 60,
        "cluster": {"address": "127.0.0.1:1"},
        "chaos": {"faults": [{"fault": "network", "args": {"mode": "latency", "latency_ms": 1, "duration_s": 0.05},
                              "schedule": {"poisson_per_s": shots_per_s}}]},
    }
    scenario = scenario_from_dict(data, "bench")
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        ctx = RunContext(scenario=scenario, scenario_file="bench", run_id="bench", run_dir=Path(tmp), timeline=TimelineWriter(Path(tmp) / "events.jsonl"),
                         ledger=ProcessLedger("bench"), console=Console(quiet=True))
        ctx.app_url = f"http://127.0.0.1:{port}/"
        ctx.http_port = port
        stop = threading.Event()
        for _ in range(burners):
            threading.Thread(target=_burn, args=(stop,), daemon=True).start()
        component = ChaosComponent(scenario.chaos)
        component.start(ctx)
        ctx.load_started_at = time.time()
        time.sleep(seconds + 1)
        component.stop(ctx)
        stop.set()
        ctx.timeline.close()
    server.shutdown()
    wakes = [r["wake_lag_ms"] for r in component.results.values() if r.get("wake_lag_ms") is not None]
    print(f"scheduler thread woke late by: p50 {pct(wakes, 50):.2f} ms, p99 {pct(wakes, 99):.2f} ms", flush=True)
    return [r["lag_ms"] for r in component.results.values() if r.get("lag_ms") is not None]


def proxy_part(requests: int) -> tuple[list[float], list[float]]:
    import http.client
    import random

    from chaos.proxy import FaultProxy

    server = serve_ok()
    proxy = FaultProxy(server.server_address[1], random.Random(0))
    proxy.start()

    def timed(port: int) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # keep-alive, as Locust
        out = []
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            out.append((time.perf_counter() - start) * 1000)
        conn.close()
        return out

    direct, proxied = [], []
    for _ in range(4):  # interleaved rounds: machine noise hits both alike
        direct += timed(server.server_address[1])
        proxied += timed(proxy.port)
    proxy.stop()
    server.shutdown()
    return direct, proxied


def cluster_part(runs: int, default_health: bool) -> tuple[list[float], list[float]]:
    lags: list[float] = []
    dead_after: list[float] = []
    extra = ["--set", "cluster.system_config={}"] if default_health else []
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        for index in range(runs):
            results = Path(tmp) / f"r{index}"
            subprocess.run(
                [sys.executable, "-m", "harness", "run", SCENARIO, "--results", str(results),
                 "--seed", str(index + 1), *extra],
                cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            summary = json.loads((results / "latest" / "summary.json").read_text())
            shots = summary["artifacts"].get("chaos_results", [])
            run_lags = [s["lag_ms"] for s in shots if s.get("lag_ms") is not None]
            kills = [s["noticed_after_s"] for s in shots
                     if s["fault"] == "kill_raylet" and s.get("noticed_after_s") is not None]
            lags += run_lags
            dead_after += kills
            print(f"run {index + 1}: status={summary['status']} shots={len(shots)} "
                  f"lag p99={pct(run_lags, 99):.1f}ms raylet kill->dead={kills}", flush=True)
    return lags, dead_after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "scheduler", "proxy", "cluster"), default="all")
    parser.add_argument("--requests", type=int, default=500, help="proxy part: requests per round (4 rounds)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--shots-per-s", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burners", type=int, default=1)
    parser.add_argument("--default-health-checks", action="store_true",
                        help="cluster part: Ray's default health checks instead of the scenario's fast ones")
    args = parser.parse_args()
    rows = []
    if args.part in ("all", "scheduler"):
        lags = scheduler_part(args.shots_per_s, args.seconds, args.burners)
        rows.append((f"scheduler: lag, {len(lags)} shots, {args.burners} busy thread(s)", lags, "ms", "p99 <= 100 ms"))
    if args.part in ("all", "proxy"):
        direct, proxied = proxy_part(args.requests)
        rows.append((f"proxy: request direct, {len(direct)} requests", direct, "ms", ""))
        rows.append((f"proxy: request through the fault proxy (pass), {len(proxied)} requests", proxied, "ms", ""))
    if args.part in ("all", "cluster"):
        lags, dead = cluster_part(args.runs, args.default_health_checks)
        rows.append((f"cluster: lag, {len(lags)} shots in {args.runs} runs", lags, "ms", "p99 <= 100 ms"))
        rows.append((f"cluster: raylet kill -> recorded dead, {len(dead)} kills", dead, "s", ""))
    print("\n| measure | p50 | p99 | max | target |")
    print("| --- | --- | --- | --- | --- |")
    for name, values, unit, target in rows:
        print(f"| {name} | {pct(values, 50):.2f} {unit} | {pct(values, 99):.2f} {unit} "
              f"| {max(values, default=float('nan')):.2f} {unit} | {target} |")


if __name__ == "__main__":
    main()
