"""A synthetic but complete run directory (summary.json + timeline) for reporter tests.

The timeline has every kind of record a real run writes: phases (the load process's
`load` window, a `burst-1` window inside it, a cooldown), requests with every
outcome, recorder samples with replicas and nodes, and chaos records. Verdicts are
judged by the real SLO code over that timeline, and summary.json is written by the
real summary writer, so reporters read exactly the shapes a run leaves behind.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.measure.timeline import (
    EVENTS_FILE,
    REQUESTS_FILE,
    TIMELINE_DIR,
    Timeline,
    TimelineWriter,
)
from harness.model.outcome import RunOutcome
from harness.model.scenario import SLOSpec
from harness.report.summary import build_summary, write_summary
from harness.slo.core import evaluate

T0 = 1_700_000_000.0
LOAD = (8.0, 38.0)
BURST = (18.0, 24.0)
CHAOS_AT = 25.0
NODE_DEAD_AT = 27.0
RUN_END = 44.0
SLOS = [
    SLOSpec(name="requests succeed", check="success_ratio >= 99%"),
    SLOSpec(name="p99 latency", check="p(99) < 50ms"),
    SLOSpec(name="recovers after load", check="requests >= 100", window="after_load"),
]


def _rate(offset: float) -> float:
    return 40.0 if BURST[0] <= offset < BURST[1] else 20.0


def _outcome(rng: random.Random, offset: float) -> tuple[str, int, float]:
    latency = rng.lognormvariate(1.6, 0.35)
    if CHAOS_AT <= offset < CHAOS_AT + 3:
        latency *= 8  # the node died: slow, some requests fail
        if rng.random() < 0.15:
            return "error", 500, latency
    if BURST[0] <= offset < BURST[1] and rng.random() < 0.05:
        return "shed", 503, 1.0
    return "ok", 200, latency


def write_requests(path: Path, rng: random.Random) -> int:
    writer = TimelineWriter(path)
    writer.phase("load", "start", t=T0 + LOAD[0], source="load")
    writer.phase("burst-1", "start", t=T0 + BURST[0], source="load")
    offset, count = LOAD[0], 0
    burst_open = True
    while offset < LOAD[1]:
        if burst_open and offset >= BURST[1]:
            writer.phase("burst-1", "end", t=T0 + BURST[1], source="load")
            burst_open = False
        outcome, status, latency = _outcome(rng, offset)
        count += 1
        if BURST[0] <= offset < BURST[1] and count % 20 == 0:  # the open-model generator fell behind
            writer.emit("dropped", t=T0 + offset, id=count, reason="late")
            offset += rng.expovariate(_rate(offset))
            continue
        writer.emit("request", t=T0 + offset, id=count, latency_ms=round(latency, 3), status=status,
                    outcome=outcome, bytes=256, attempt=1, final=True)
        offset += rng.expovariate(_rate(offset))
    writer.phase("load", "end", t=T0 + LOAD[1], source="load")
    writer.close()
    return count


def write_events(path: Path) -> None:
    writer = TimelineWriter(path)
    writer.phase("run", "start", t=T0, run_id="synthetic", seed=7)
    writer.phase("cluster_start", "start", t=T0 + 0.1)
    writer.phase("cluster_start", "end", t=T0 + 4.0, nodes=["a100-node", "a40-node", "head"])
    writer.phase("app_deploy", "start", t=T0 + 4.0)
    writer.phase("app_deploy", "end", t=T0 + 7.5)
    offset = 7.6
    while offset < RUN_END - 0.5:
        replicas = 1 if CHAOS_AT + 1 <= offset < CHAOS_AT + 6 else 2
        nodes_alive = 2 if offset >= NODE_DEAD_AT else 3
        writer.emit(
            "sample", t=T0 + offset, app_status="RUNNING", nodes_alive=nodes_alive,
            nodes_dead=3 - nodes_alive,
            deployments={
                "Echo": {"status": "HEALTHY", "replicas": {"RUNNING": replicas}, "running": replicas,
                         "target": 2},
                "Router": {"status": "HEALTHY", "replicas": {"RUNNING": 1}, "running": 1},
            },
        )
        offset += 0.5
    # Records as the chaos component writes them (chaos/component.py).
    target = [{"node": "a40-node", "node_id": "abc123", "pid": 4242}]
    writer.emit("chaos", t=T0 + 7.8, event="proxy", proxy="http://127.0.0.1:1234", upstream_port=8000)
    writer.emit("chaos", t=T0 + CHAOS_AT, id="fault-1", fault="kill_raylet", planned_t=T0 + CHAOS_AT - 0.01,
                actual_t=T0 + CHAOS_AT, event="injected", outcome="injected", targets=target, kills_node=True)
    writer.phase("fault-1", "start", t=T0 + CHAOS_AT, fault="kill_raylet")
    writer.emit("chaos", t=T0 + NODE_DEAD_AT, id="fault-1", fault="kill_raylet", event="noticed",
                noticed_t=T0 + NODE_DEAD_AT, noticed="node marked dead")
    writer.phase("fault-1", "end", t=T0 + NODE_DEAD_AT + 3, fault="kill_raylet")
    writer.emit("chaos", t=T0 + NODE_DEAD_AT + 3, event="result", id="fault-1", fault="kill_raylet",
                outcome="injected", targets=target)
    writer.phase("cooldown", "start", t=T0 + LOAD[1] + 0.2)
    writer.phase("cooldown", "end", t=T0 + RUN_END - 0.6)
    writer.phase("run", "end", t=T0 + RUN_END)
    writer.close()


# With `extras`: an autoscaling cluster's node records, a tasks workload's progress, and
# SLOs that read those charts (the report's node-type, progress and SLO-bound views).
EXTRA_SLOS = [
    SLOSpec(name="enough sent", check="sent_rps >= 5"),
    SLOSpec(name="A100 cap", check="max_nodes(A100) <= 2", window="run"),
    SLOSpec(name="no task lost", check="tasks_lost(tasks) == 0", window="run"),
]


def write_extras(path: Path) -> None:
    writer = TimelineWriter(path)
    for step in range(0, 40):
        offset = 4.0 + step
        a100 = {"alive": min(2, step // 8), "pending": 1 if 4 <= step < 16 else 0, "terminating": 0}
        demand = [[{"A100": 1}, 1]] if 4 <= step < 16 else []
        writer.emit("nodes", t=T0 + offset, types={"A100": a100, "A40": {"alive": 1, "pending": 0}},
                    demand=demand, unmet=bool(demand))
        if 8 <= offset <= 38:
            done = int((offset - 8) * 4)
            writer.emit("workload", t=T0 + offset, name="tasks", event="progress", workload="tasks",
                        planned=120, submitted=min(120, done + 8), ok=min(120, done), failed=0, wrong=0,
                        unfinished=8, lost=0 if offset < CHAOS_AT else 2)
    writer.emit("workload", t=T0 + 38.5, name="tasks", event="result", workload="tasks", planned=120,
                submitted=120, ok=118, failed=2, wrong=0, unfinished=0, lost=2, passed=False)
    writer.close()


def make_run(results_root: Path, name: str = "synthetic", seed: int = 7, error: str | None = None,
             extras: bool = False) -> Path:
    """Write a complete run directory under results_root and return it."""
    run_dir = results_root / f"20240101-000000-{name}-{seed:06x}"
    timeline_dir = run_dir / TIMELINE_DIR
    count = write_requests(timeline_dir / REQUESTS_FILE, random.Random(seed))
    write_events(timeline_dir / EVENTS_FILE)
    if extras:
        write_extras(timeline_dir / EVENTS_FILE)
    timeline = Timeline.load(run_dir)
    outcome = RunOutcome(run_id=run_dir.name, scenario_name=name, scenario_file=f"configs/scenarios/{name}.yaml",
                         seed=seed, run_dir=str(run_dir), started_at=T0, ended_at=T0 + RUN_END)
    outcome.verdicts = [evaluate(spec, timeline) for spec in SLOS + (EXTRA_SLOS if extras else [])]
    outcome.metrics = {"requests": count}
    if error is not None:
        outcome.fail("cluster", error)
    config = {"name": name, "description": "synthetic run for reporter tests", "seed": seed, "duration_s": 30}
    write_summary(run_dir / "summary.json", build_summary(outcome, config, {"overrides": []}))
    return run_dir
