"""Soak benchmark: run a long scenario and sample the harness process's memory.

    python -m bench.soak --minutes 30            # the README figure
    python -m bench.soak --minutes 2 --set load.users=4

Starts `harness run` as a subprocess (the harness process is the Ray driver),
samples its RSS (and, apart, the Locust process's) every few seconds, and prints
the harness's RSS 1, 10 and 30 minutes into the load (the marks the run reached),
plus the growth from the 1-minute mark to the end of the load and the peak while
the run is judged and torn down afterwards. Samples go to
`<results>/soak-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MARKS_MIN = (1, 10, 30)
MB = 1024 * 1024


def _rss_mb(pid: int) -> float | None:
    try:
        return psutil.Process(pid).memory_info().rss / MB
    except psutil.Error:
        return None


def _locust_pid(harness: int) -> int | None:
    try:
        for child in psutil.Process(harness).children():
            if "locust" in " ".join(child.cmdline()):
                return child.pid
    except psutil.Error:
        pass
    return None


def _load_started(results: Path) -> bool:
    return any(p.stat().st_size > 0 for p in results.glob("2*/timeline/requests.jsonl"))


def soak(minutes: float, scenario: Path, overrides: list[str], results: Path, every_s: float) -> dict:
    results.mkdir(parents=True, exist_ok=True)
    duration = int(minutes * 60)
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--results", str(results),
           "--set", f"duration_s={duration}", "--set", f"timeout_s={duration + 600}"]
    for item in overrides:
        cmd += ["--set", item]
    log = open(results / "soak-harness.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=dict(os.environ))
    samples: list[dict] = []
    load_t0: float | None = None
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if load_t0 is None and _load_started(results):
                load_t0 = now
            harness_rss = _rss_mb(proc.pid)
            locust = _locust_pid(proc.pid)
            if load_t0 is not None and harness_rss is not None:
                samples.append({"load_s": round(now - load_t0, 1), "harness_rss_mb": round(harness_rss, 1),
                                "locust_rss_mb": None if locust is None else _rss_mb(locust),
                                "after_load": now - load_t0 > duration})
            time.sleep(every_s)
    finally:
        if proc.poll() is None:
            proc.terminate()  # the harness tears down on SIGTERM
            proc.wait(120)
        log.close()
    return {"minutes": minutes, "scenario": str(scenario), "overrides": overrides,
            "exit_code": proc.returncode, "samples": samples, "report": report(samples)}


def report(all_samples: list[dict]) -> dict:
    samples = [s for s in all_samples if not s.get("after_load")]
    after = [s["harness_rss_mb"] for s in all_samples if s.get("after_load")]

    def at(seconds: float) -> float | None:
        """The sample closest to the mark, if one lies within 10 s of it."""
        near = min(samples, key=lambda s: abs(s["load_s"] - seconds), default=None)
        return near["harness_rss_mb"] if near and abs(near["load_s"] - seconds) <= 10 else None

    out: dict = {f"rss_mb_at_{m}min": at(m * 60) for m in MARKS_MIN}
    # After the load the harness reads the whole timeline back to judge it.
    out["rss_mb_peak_after_load"] = max(after) if after else None
    if samples:
        rss = [s["harness_rss_mb"] for s in samples]
        out.update(rss_mb_min=min(rss), rss_mb_max=max(rss), rss_mb_end=rss[-1],
                   load_s_end=samples[-1]["load_s"])
        start = at(60)
        if start is not None:
            out["growth_mb_from_1min_to_end"] = round(rss[-1] - start, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--scenario", type=Path, default=PROJECT_ROOT / "configs/scenarios/soak.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="passed to harness run (e.g. a fault every minute once chaos is in)")
    parser.add_argument("--results", type=Path, default=PROJECT_ROOT / "results" / "soak")
    parser.add_argument("--every-s", type=float, default=5.0, help="sampling interval (at most 10)")
    args = parser.parse_args(argv)
    outcome = soak(args.minutes, args.scenario, args.overrides, args.results, args.every_s)
    out_path = args.results / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_path.write_text(json.dumps(outcome, indent=2))
    print(json.dumps(outcome["report"], indent=2))
    print(f"harness exit {outcome['exit_code']}; samples in {out_path}")
    return 0 if outcome["exit_code"] in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
