"""Benchmarks of the harness's load generator against a trivial local endpoint.

    python -m bench.load_generator [--only rate,peak,wrk] [--seconds 8] [--out results/bench-load.json]

rate  open model, uniform arrivals: for rising target rates, the rate of sends
      actually made inside the load window (by their real send time) and the
      generator's lag; the highest rate within 2% of target with no send later
      than the default max_lag_ms is the sustained rate.
peak  closed model, zero wait: the harness generator's throughput (every attempt
      recorded) over plain headless `locust` with FastHttpUser, alternated in one run;
      as wall-clock rates and as requests per CPU second of the generator process
      (steady on a shared machine, where wall-clock rates swing with others' load).
wrk   at a fixed rate, the harness's p50 (from intended send time) against wrk's
      (Debian's wrk, one connection, a Lua delay between requests); skipped
      without wrk.
The endpoint (bench.load_server) runs in its own process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.load_server import running_server
from harness.load.process import run_load
from harness.measure.stats import percentile
from harness.measure.timeline import Timeline
from harness.model.load_spec import LoadSpec
from harness.procs.ledger import ProcessLedger

ROOT = Path(__file__).resolve().parent.parent
RATES = (250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000)
DEFAULT_MAX_LAG_MS = LoadSpec().max_lag_ms


def harness_load(url: str, load: dict[str, Any], seconds: float) -> tuple[Timeline, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        process = run_load(Path(tmp), LoadSpec.model_validate(load), url, seconds, 1, ProcessLedger("bench"))
        return Timeline.load(Path(tmp)), process


def open_rate(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Sends made inside the window by their real send time, per second, and the lag."""
    load = {"model": "open", "rate": rate, "arrivals": "uniform", "max_lag_ms": 600_000,
            "max_in_flight": 2000, "request_timeout_s": 5}
    timeline, _ = harness_load(url, load, seconds)
    window = timeline.window("load")
    requests = timeline.requests_in(window)
    actual = [r["t"] + r.get("lag_ms", 0) / 1000.0 for r in requests]
    made = sum(1 for t in actual if window.start <= t < window.end)
    lags = sorted(r.get("lag_ms", 0.0) for r in requests)
    return {
        "target_rps": rate,
        "achieved_rps": round(made / window.duration, 1),
        "ratio": round(made / window.duration / rate, 4),
        "late_sends": sum(1 for lag in lags if lag > DEFAULT_MAX_LAG_MS),
        "lag_p50_ms": round(percentile(lags, 50), 3),
        "lag_p99_ms": round(percentile(lags, 99), 3),
        "ok": sum(1 for r in requests if r["outcome"] == "ok"),
        "requests": len(requests),
    }


def bench_rate(url: str, seconds: float) -> dict[str, Any]:
    rows, sustained = [], None
    for rate in RATES:
        row = open_rate(url, rate, seconds)
        row["sustained"] = abs(row["ratio"] - 1) <= 0.02 and row["late_sends"] == 0
        rows.append(row)
        print(json.dumps(row), flush=True)
        if row["sustained"]:
            sustained = rate
        elif len(rows) >= 2 and not rows[-2]["sustained"]:
            break  # two misses in a row: past the generator's limit
    return {"rows": rows, "highest_sustained_rps": sustained}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plain_locust(url: str, users: int, seconds: float) -> tuple[float, float]:
    """(requests per second, CPU seconds) of plain headless Locust with FastHttpUser."""
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as tmp:
        cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load_plain_locustfile.py"),
               "--headless", "--host", url, "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s",
               "--csv", f"{tmp}/plain", "--html", f"{tmp}/plain.html",  # the outputs the harness writes
               "--only-summary", "--skip-log-setup", "--exit-code-on-error", "0"]
        cpu = _children_cpu_s()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cpu = _children_cpu_s() - cpu
        with open(f"{tmp}/plain_stats.csv", newline="") as handle:
            total = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
        count = int(total["Request Count"])
        return count / seconds, count / cpu


def harness_closed(url: str, users: int, seconds: float) -> tuple[float, float]:
    """(requests per second, requests per CPU second) of the harness's closed model."""
    cpu = _children_cpu_s()
    timeline, _ = harness_load(url, {"users": users, "spawn_rate": users, "wait_ms": 0}, seconds)
    cpu = _children_cpu_s() - cpu
    window = timeline.window("load")
    attempts = len(timeline.requests_in(window, final_only=False))
    total = len(timeline.requests)
    return attempts / window.duration, total / cpu


def bench_peak(url: str, seconds: float, users: int = 8, rounds: int = 4) -> dict[str, Any]:
    """Wall-clock rates swing with a shared machine's load; requests per CPU second do not."""
    plain, ours = [], []
    for _ in range(rounds):  # alternate, so drifting machine load hits both alike
        plain.append(plain_locust(url, users, seconds))
        ours.append(harness_closed(url, users, seconds))
        print(json.dumps({"plain": [round(v) for v in plain[-1]], "harness": [round(v) for v in ours[-1]]}),
              flush=True)
    return {
        "users": users,
        "plain_locust_rps": [round(v[0], 1) for v in plain],
        "harness_rps": [round(v[0], 1) for v in ours],
        "plain_locust_req_per_cpu_s": [round(v[1], 1) for v in plain],
        "harness_req_per_cpu_s": [round(v[1], 1) for v in ours],
        "ratio_rps": round(statistics.median(v[0] for v in ours) / statistics.median(v[0] for v in plain), 3),
        "ratio_per_cpu_s": round(statistics.median(v[1] for v in ours) / statistics.median(v[1] for v in plain), 3),
    }


WRK_LUA = "function delay()\n  return {delay}\nend\n"
_WRK_P50 = re.compile(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk_p50_ms(url: str, rate: float, seconds: float) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA.format(delay=max(0, round(1000 / rate))))
    out = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds:g}s", "--latency", "-s", script.name, url + "/"],
        capture_output=True, text=True, timeout=seconds + 30,
    ).stdout
    Path(script.name).unlink()
    match = _WRK_P50.search(out)
    if match is None:
        raise RuntimeError(f"no p50 in wrk's output: {out[-500:]}")
    value, unit = float(match[1]), match[2]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def harness_p50_ms(url: str, rate: float, seconds: float) -> float:
    timeline, _ = harness_load(url, {"model": "open", "rate": rate, "arrivals": "uniform",
                                     "max_lag_ms": 600_000}, seconds)
    return percentile(sorted(r["latency_ms"] for r in timeline.requests_in(timeline.window("load"))), 50)


def bench_wrk(url: str, seconds: float, rate: float = 200, rounds: int = 3) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        msg = "wrk not installed (apt-get install -y wrk): comparison skipped"
        print(msg)
        return {"skipped": msg}
    ours, theirs = [], []
    for _ in range(rounds):  # alternate, as for peak
        ours.append(harness_p50_ms(url, rate, seconds))
        theirs.append(wrk_p50_ms(url, rate, seconds))
        print(json.dumps({"harness_p50_ms": round(ours[-1], 3), "wrk_p50_ms": round(theirs[-1], 3)}), flush=True)
    difference = statistics.median(ours) - statistics.median(theirs)
    return {"rate_rps": rate, "harness_p50_ms": [round(v, 3) for v in ours],
            "wrk_p50_ms": [round(v, 3) for v in theirs], "median_difference_ms": round(difference, 3),
            "within_1ms": abs(difference) <= 1.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="rate,peak,wrk")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench-load.json")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    results: dict[str, Any] = {"seconds": args.seconds, "load_average_before": os.getloadavg()}
    with running_server() as (url, _server):
        for name, fn in (("rate", bench_rate), ("peak", bench_peak), ("wrk", bench_wrk)):
            if name in wanted:
                results[name] = fn(url, args.seconds)
                print(f"{name}: {json.dumps(results[name])}", flush=True)
    results["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
