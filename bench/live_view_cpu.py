"""What the live view costs: CPU of the harness process while load runs.

    python -m bench.live_view_cpu            # synthetic streams, then a real smoke run in a pty
    python -m bench.live_view_cpu --synthetic-only

(a) Synthetic: a separate process appends request records at a fixed rate (plus
    recorder samples at 2 Hz) while this process runs only the LiveView component
    in terminal mode (rich panel redrawn at 2 Hz). Reported: this process's CPU as
    a percentage of one core.
(b) Real: `harness run` of the smoke scenario inside a pseudo-terminal (so the rich
    panel is drawn), with psutil reading the harness process's CPU time at the
    start and the end of the load window. Reported: the whole harness process
    (Ray driver, recorder, runner loop, live view) and the live view thread alone.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from rich.console import Console

from harness.measure.timeline import EVENTS_FILE, REQUESTS_FILE, TIMELINE_DIR, TimelineWriter
from harness.model.context import RunContext
from harness.model.scenario import ClusterSpec, NodeSpec, Scenario
from harness.procs.ledger import ProcessLedger
from harness.run.live import LiveView

ROOT = Path(__file__).resolve().parent.parent
WRITER = r"""
import json, sys, time
path, events, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
out = open(path, "a", buffering=1 << 16)
ev = open(events, "a")
start = time.time(); sent = 0; next_sample = start
out.write(json.dumps({"t": start, "kind": "phase", "name": "load", "edge": "start"}) + "\n")
while time.time() - start < seconds:
    now = time.time()
    due = int((now - start) * rate)
    while sent < due:
        out.write(json.dumps({"t": start + sent / rate, "kind": "request", "id": sent, "latency_ms": 5.2,
                              "status": 200, "outcome": "ok", "bytes": 256, "attempt": 1, "final": True}) + "\n")
        sent += 1
    out.flush()
    if now >= next_sample:
        ev.write(json.dumps({"t": now, "kind": "sample", "nodes_alive": 3, "nodes_dead": 0,
                             "deployments": {"Echo": {"running": 2, "target": 2}}}) + "\n")
        ev.flush()
        next_sample += 0.5
    time.sleep(0.25)
"""


def synthetic(rate: float, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        scenario = Scenario(name="bench", duration_s=seconds,
                            cluster=ClusterSpec(nodes=[NodeSpec(name="head", num_cpus=1)]))
        console = Console(file=io.StringIO(), force_terminal=True, width=120)
        ctx = RunContext(scenario=scenario, scenario_file="bench", run_id="bench", run_dir=run_dir,
                         timeline=TimelineWriter(run_dir / TIMELINE_DIR / EVENTS_FILE),
                         ledger=ProcessLedger("bench"), console=console)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir / TIMELINE_DIR / REQUESTS_FILE),
                                   str(run_dir / TIMELINE_DIR / EVENTS_FILE), str(rate), str(seconds)])
        view = LiveView()
        cpu0, wall0 = time.process_time(), time.monotonic()
        view.start(ctx)
        writer.wait()
        view.stop(ctx)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        ctx.timeline.close()
        return {"rate": rate, "seconds": round(wall, 1), "process_cpu_pct": round(100 * cpu / wall, 2),
                "view_thread_cpu_pct": view.metrics()["live_view_cpu_pct"], "updates": view.updates}


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _load_edges(run_dir: Path) -> tuple[bool, bool]:
    started = ended = False
    path = run_dir / TIMELINE_DIR / REQUESTS_FILE
    if path.exists():
        text = path.read_text(errors="replace")
        started = '"name":"load","edge":"start"' in text
        ended = '"name":"load","edge":"end"' in text
    return started, ended


def real_run(scenario: str) -> dict[str, float]:
    results = Path(tempfile.mkdtemp(prefix="bench-live-"))
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", scenario, "--results", str(results)],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    threading.Thread(target=_drain, args=(master,), daemon=True).start()
    harness = psutil.Process(proc.pid)
    marks: dict[str, tuple[float, float]] = {}
    while proc.poll() is None and "end" not in marks:
        runs = [p for p in results.iterdir() if p.is_dir() and p.name != "latest"]
        if runs:
            started, ended = _load_edges(runs[0])
            times = harness.cpu_times()
            if started and "start" not in marks:
                marks["start"] = (time.monotonic(), times.user + times.system)
            if ended and "start" in marks:
                marks["end"] = (time.monotonic(), times.user + times.system)
        time.sleep(0.1)
    proc.wait(timeout=300)
    os.close(master)
    summary = json.loads(next(results.glob("*/summary.json")).read_text())
    wall = marks["end"][0] - marks["start"][0]
    cpu = marks["end"][1] - marks["start"][1]
    return {"exit_code": proc.returncode, "load_seconds": round(wall, 1),
            "harness_process_cpu_pct": round(100 * cpu / wall, 2),
            "view_thread_cpu_pct": summary["metrics"].get("live_view_cpu_pct"),
            "requests": summary["metrics"].get("requests"), "results": str(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--synthetic-only", action="store_true")
    parser.add_argument("--scenario", default="configs/scenarios/smoke.yaml")
    args = parser.parse_args()
    for rate in (180, 1000):
        print("synthetic", json.dumps(synthetic(rate, args.seconds)), flush=True)
    if not args.synthetic_only:
        print("real", json.dumps(real_run(args.scenario)), flush=True)


if __name__ == "__main__":
    main()
