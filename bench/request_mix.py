"""What a JSON request mix costs the load generator, against plain GET, in one run.

    python -m bench.request_mix [--rate 400] [--seconds 8] [--rounds 3] [--out results/bench-request-mix.json]

Both send at the same open-model rate to the trivial endpoint (bench.load_server), rounds
alternated so that drifting load on a shared machine hits both alike:
  plain  one request, GET /, no body (what a scenario without load.requests sends)
  mix    three named requests by weight: a POST whose JSON body is drawn from a template
         (a line of a file, an int and a float range, a choice), a POST with a fixed JSON
         body and headers, and a GET with headers
The figure is CPU per request of the load process: user + system CPU of the Locust process
from its first send to a second before the end, over the requests sent in that span
(startup, Locust's import included, and exit left out). The figure is the median over
rounds of mix / plain (each mix run against the plain run just before it); the target:
within 1.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.load_server import running_server
from harness.load.process import LoadProcess
from harness.load.traffic import resolve_specs
from harness.measure.timeline import Timeline
from harness.model.load_spec import LoadSpec, RequestSpec
from harness.procs.ledger import ProcessLedger

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "configs" / "apps" / "prompts.txt"


def mix_specs() -> list[RequestSpec]:
    return [
        RequestSpec(name="predict", weight=3, method="POST", path="/predict", body_template={
            "prompt": {"line_of": str(PROMPTS)}, "max_tokens": {"int": [8, 64]},
            "temperature": {"float": [0.0, 1.0]}, "model": {"choice": ["small", "large"]}, "stream": False,
        }, expect_status=200),
        RequestSpec(name="classify", weight=1, method="POST", path="/classify",
                    headers={"x-tenant": "bench"}, body={"text": "a fixed body", "labels": ["a", "b", "c"]}),
        RequestSpec(name="health", weight=1, path="/health", headers={"x-tenant": "bench"}),
    ]


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def one_run(url: str, rate: float, seconds: float, requests: list[dict[str, Any]] | None) -> dict[str, Any]:
    """CPU of the load process between its first send and just before its last, per request sent then
    (the process's start, Locust's import included, and its exit are left out)."""
    load = LoadSpec.model_validate({"model": "open", "rate": rate, "arrivals": "uniform", "max_lag_ms": 60_000})
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        ledger = ProcessLedger("bench")
        process = LoadProcess(run_dir=Path(tmp), spec=load, target_url=url, duration_s=seconds, seed=1, ledger=ledger,
                              requests=requests)
        try:
            process.start()
            process.wait_started(load.start_timeout_s)
            proc = psutil.Process(process.process.pid)
            t0, cpu0 = time.time(), _cpu_s(proc)
            time.sleep(seconds - 1.0)
            t1, cpu1 = time.time(), _cpu_s(proc)
            process.process.wait(timeout=seconds + 30)
        finally:
            process.stop()
            ledger.kill_survivors()
        timeline = Timeline.load(Path(tmp))
    sent = [r for r in timeline.requests if t0 <= r["t"] + r.get("lag_ms", 0) / 1000.0 < t1]
    cpu = cpu1 - cpu0
    return {"requests": len(sent), "ok": sum(1 for r in sent if r["outcome"] == "ok"), "cpu_s": round(cpu, 3),
            "cpu_us_per_request": round(cpu / len(sent) * 1e6, 1),
            "names": sorted({r.get("name", "") for r in timeline.requests})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench-request-mix.json")
    args = parser.parse_args(argv)
    mix = resolve_specs(mix_specs(), LoadSpec().request_timeout_s)
    rows: dict[str, list[dict[str, Any]]] = {"plain": [], "mix": []}
    with running_server() as (url, _server):
        for _ in range(args.rounds):
            for name, requests in (("plain", None), ("mix", mix)):
                rows[name].append(one_run(url, args.rate, args.seconds, requests))
                print(json.dumps({name: rows[name][-1]}), flush=True)
    plain = statistics.median(r["cpu_us_per_request"] for r in rows["plain"])
    mixed = statistics.median(r["cpu_us_per_request"] for r in rows["mix"])
    # Each mix run against the plain run just before it: machine load drifts between rounds.
    pairs = [m["cpu_us_per_request"] / p["cpu_us_per_request"] for p, m in zip(rows["plain"], rows["mix"], strict=True)]
    ratio = statistics.median(pairs)
    result = {"rate_rps": args.rate, "seconds": args.seconds, "rows": rows, "load_average": os.getloadavg(),
              "plain_cpu_us_per_request": plain, "mix_cpu_us_per_request": mixed,
              "pair_ratios": [round(r, 3) for r in pairs], "ratio": round(ratio, 3), "within_1_2x": ratio <= 1.2}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
