"""Resource and node SLOs a Ray core chaos test needs (as Ray's release chaos tests check).
The default window is the run.

    resources_reclaimed_time < 10s           from the end of the last workload until a
    resources_reclaimed_time(tasks) < 10s    sample shows the cluster's available CPU equal
    resources_reclaimed_time(tasks, GPU)     to its total again (another resource as a
                                             second argument)
    dead_node_noticed_time < 5s              the slowest time, over the node faults injected
                                             in the window, from a node's kill until the
                                             cluster marked it dead (chaos.watch)
    resource_killer_started == 1             whether a script called ResourceKiller.run()
                                             (implicit with chaos.resource_killer: true)
"""

from __future__ import annotations

from typing import Any

from harness.measure import series
from harness.measure.records import Chaos, WorkloadRecord
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import FLAG, SECONDS, Measurement, SLOSyntaxError, metric

NEVER = float("inf")
# Resource amounts are floats summed by Ray: compare with a little slack.
RESOURCE_SLACK = 1e-6


def _workload_end(timeline: Timeline, window: Window, name: str | None) -> dict[str, Any] | None:
    """The result record of the named workload, or of the workload that ended last."""
    results = [
        e for e in timeline.events_of(WorkloadRecord, window)
        if e.get(WorkloadRecord.event) == "result" and (name is None or e.get(WorkloadRecord.name) == name)
    ]
    return results[-1] if results else None


@metric("resources_reclaimed_time", sampled=True, kind=SECONDS, window="run")
def resources_reclaimed_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if len(args) > 2:
        raise SLOSyntaxError(f"expected resources_reclaimed_time([Workload[, Resource]]), got ({', '.join(args)})")
    name = args[0] if args else None
    resource = args[1] if len(args) == 2 else "CPU"
    end = _workload_end(timeline, window, name)
    if end is None:
        who = f"workload {name!r}" if name else "no workload"
        return Measurement(value=None, unit="s", inputs={"why": f"{who} reported no result" if name else f"{who} ended"})
    total = dict(series.resource_series(timeline, resource, "total"))
    available = dict(series.resource_series(timeline, resource, "available"))
    ended = end[WorkloadRecord.t]
    after = sorted(t for t in total if ended <= t <= window.end and t in available)
    inputs: dict[str, Any] = {"workload": end.get(WorkloadRecord.name), "resource": resource, "ended_t": ended,
                              "samples": len(after)}
    if not after:
        inputs["why"] = f"no sample after {end.get(WorkloadRecord.name)!r} ended (give the run a cooldown_s)"
        return Measurement(value=None, unit="s", inputs=inputs)
    if not any(total[t] > 0 for t in after):
        inputs["why"] = f"the cluster has no {resource}"
        return Measurement(value=None, unit="s", inputs=inputs)
    back = next((t for t in after if total[t] > 0 and available[t] >= total[t] - RESOURCE_SLACK), None)
    if back is None:
        last = after[-1]
        inputs["why"] = (
            f"available {resource} stayed below the total for {last - end['t']:.1f}s after "
            f"{end.get('name')!r} ended (last sample: {available[last]:g} of {total[last]:g})"
        )
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    inputs.update(total=total[back], available=available[back])
    return Measurement(value=round(back - ended, 3), unit="s", inputs=inputs)


def node_fault_results(timeline: Timeline, window: Window) -> list[dict[str, Any]]:
    """The final record of every node-killing fault injected in the window."""
    return [
        e for e in timeline.shot_results()
        if e.get(Chaos.kills_node) and e.get(Chaos.outcome) == "injected"
        and isinstance(e.get(Chaos.actual_t), (int, float)) and window.contains(e[Chaos.actual_t])
    ]


def _target_names(record: dict[str, Any]) -> str:
    names = [str(t.get("node")) for t in record.get(Chaos.targets) or [] if isinstance(t, dict)]
    return ", ".join(names) or "?"


@metric("dead_node_noticed_time", "node_noticed_time", kind=SECONDS, window="run")
def dead_node_noticed_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if args:
        raise SLOSyntaxError(f"expected dead_node_noticed_time without arguments, got ({', '.join(args)})")
    faults = node_fault_results(timeline, window)
    if not faults:
        return Measurement(value=None, unit="s", inputs={"why": "no node fault was injected"})
    per_fault = {
        f"{r.get(Chaos.id)} {r.get(Chaos.fault)} {_target_names(r)}": r.get(Chaos.noticed_after_s) for r in faults
    }
    inputs: dict[str, Any] = {"faults": per_fault}
    missed = [r for r in faults if not isinstance(r.get(Chaos.noticed_after_s), (int, float))]
    if missed:
        inputs["why"] = "; ".join(
            f"{r.get('id')} ({r.get('fault')} on {_target_names(r)}): {r.get('noticed', 'never noticed')}" for r in missed
        )
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    return Measurement(value=max(float(r[Chaos.noticed_after_s]) for r in faults), unit="s", inputs=inputs)


@metric("resource_killer_started", kind=FLAG, window="run")
def resource_killer_started(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if args:
        raise SLOSyntaxError(f"expected resource_killer_started without arguments, got ({', '.join(args)})")
    chaos = timeline.events_of(Chaos)
    started = [e for e in chaos if e.get(Chaos.event) == "killer_run" and window.contains(e[Chaos.t])]
    if started:
        return Measurement(value=1.0, unit="count", inputs={"run_called_t": started[0][Chaos.t]})
    unfired = [e for e in timeline.shot_results() if e.get(Chaos.outcome) == "not_reached"]
    ready = any(e.get(Chaos.event) == "killer_ready" for e in chaos)
    why = (
        "the script never started the ResourceKiller (no call to run()): "
        f"{len(unfired)} planned fault(s) not_reached"
        if ready else "no ResourceKiller was registered in this run"
    )
    return Measurement(value=0.0, unit="count", inputs={"why": why, "not_reached": len(unfired)})
