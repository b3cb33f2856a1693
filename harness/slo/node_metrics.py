"""Node SLOs, judged on the `nodes` records of harness.run.node_recorder (autoscaling clusters).

    time_to_nodes(A100, 1) < 30s      from the window's start (default: load) until
                                      1 node of type A100 is alive
    node_scale_down_time(A100) < 30s  from the window's start (default: after_load) until
                                      A100 settled at its floor (default: min_workers):
                                      nodes alive, pending and terminating at or below
                                      it, staying so to the window's end (series.settled_since)
    max_nodes(A100) <= 2              nodes of the type up (alive or terminating) never above 2
                                      (default window: run)
    unmet_demand_time < 20s           the longest stretch a resource demand stayed unmet
    unmet_demand_time(A100) < 20s     ... only demands that ask for A100 (default window: run)
    autoscaler_exceptions == 0        exception lines the autoscaler monitor logged (run)

A verdict names the node type, the nodes seen and the demand. Precision is the
recorder's interval (0.5 s by default).
"""

from __future__ import annotations

import math
from typing import Any

from harness.measure import series
from harness.measure.records import AutoscalerException, Nodes, NodeTypes
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import COUNT, NODES, SECONDS, Measurement, SLOSyntaxError, metric

NEVER = math.inf
# Metrics whose first argument names a node type of cluster.autoscaling (checked before the run).
NODE_TYPE_METRICS = ("time_to_nodes", "node_scale_down_time", "max_nodes")


def _type_args(name: str, args: list[str], count: bool, required: bool) -> tuple[str, int | None]:
    usage = f"{name}(NodeType{', N' if count else ''})"
    if not args or len(args) > (2 if count else 1):
        raise SLOSyntaxError(f"expected {usage}, got {name}({', '.join(args)})")
    if len(args) == 1:
        if required:
            raise SLOSyntaxError(f"expected {usage} with a node count")
        return args[0], None
    try:
        return args[0], int(args[1])
    except ValueError:
        raise SLOSyntaxError(f"expected a whole node count in {usage}, got {args[1]!r}") from None


def node_series(timeline: Timeline, node_type: str, *fields: str) -> list[series.Point]:
    """Nodes of one type in every `nodes` record, summing the given states."""
    points = []
    for record in timeline.events_of(Nodes):
        entry = (record.get(Nodes.types) or {}).get(node_type) or {}
        points.append((float(record[Nodes.t]), float(sum(entry.get(f, 0) for f in fields))))
    return points


def _no_samples(node_type: str) -> Measurement:
    return Measurement(value=None, unit="s", inputs={"node_type": node_type, "why": "no node samples (not an autoscaling cluster?)"})


def _floor(timeline: Timeline, node_type: str) -> int:
    for record in timeline.events_of(NodeTypes):
        floor = (record.get(NodeTypes.min_workers) or {}).get(node_type)
        if isinstance(floor, int):
            return floor
    return 0


@metric("time_to_nodes", sampled=True, kind=SECONDS)
def time_to_nodes(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    node_type, wanted = _type_args("time_to_nodes", args, count=True, required=True)
    assert wanted is not None
    alive = node_series(timeline, node_type, "alive")
    seen = series.within(alive, window)
    if not seen:
        return _no_samples(node_type)
    start = series.value_before(alive, window.start)
    reached = window.start if start is not None and start >= wanted else series.first_time(seen, lambda v: v >= wanted)
    inputs: dict[str, Any] = {"node_type": node_type, "wanted_alive": wanted,
                              "alive": series.relative(seen, window.start)}
    if reached is None:
        inputs["why"] = (f"{node_type}: never {wanted} nodes alive (most seen {max(v for _, v in seen):g}); "
                         f"{_demand_text(timeline, window)}")
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    return Measurement(value=max(0.0, reached - window.start), unit="s", inputs=inputs)


@metric("node_scale_down_time", sampled=True, kind=SECONDS, window="after_load")
def node_scale_down_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    node_type, floor = _type_args("node_scale_down_time", args, count=True, required=False)
    floor = _floor(timeline, node_type) if floor is None else floor
    up = node_series(timeline, node_type, "alive", "pending", "terminating")
    seen = series.within(up, window)
    if not seen:
        return _no_samples(node_type)
    settled = series.settled_since([(up, lambda v: v <= floor)], window)
    inputs: dict[str, Any] = {"node_type": node_type, "floor": floor, "nodes": series.relative(seen, window.start)}
    if settled is None:
        inputs["why"] = (f"{node_type}: did not settle at {floor} nodes by the window's end "
                         f"({seen[-1][1]:g} at the end, most {max(v for _, v in seen):g})")
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    return Measurement(value=max(0.0, settled - window.start), unit="s", inputs=inputs)


@metric("max_nodes", sampled=True, kind=NODES, window="run")
def max_nodes(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    node_type, _ = _type_args("max_nodes", args, count=False, required=False)
    up = series.within(node_series(timeline, node_type, "alive", "terminating"), window)
    if not up:
        return Measurement(value=None, unit="count", inputs={"node_type": node_type, "why": "no node samples"})
    most = max(v for _, v in up)
    inputs = {"node_type": node_type, "nodes": series.relative(up, window.start),
              "why": f"{node_type}: up to {most:g} nodes up at once"}
    return Measurement(value=most, unit="count", inputs=inputs)


def _asks_for(demand: list[Any], resource: str | None) -> list[Any]:
    return [d for d in demand if resource is None or resource in (d[0] if d else {})]


def _demand_text(timeline: Timeline, window: Window, resource: str | None = None) -> str:
    for record in timeline.events_of(Nodes, window):
        wanted = _asks_for(record.get(Nodes.demand) or [], resource)
        if wanted:
            return "demand " + ", ".join(f"{count} x {shape}" for shape, count in wanted[:3])
    return "no unmet demand recorded"


@metric("unmet_demand_time", sampled=True, kind=SECONDS, window="run")
def unmet_demand_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if len(args) > 1:
        raise SLOSyntaxError(f"expected unmet_demand_time or unmet_demand_time(Resource), got {args}")
    resource = args[0] if args else None
    records = timeline.events_of(Nodes, window)
    if not records:
        return Measurement(value=None, unit="s", inputs={"why": "no node samples (not an autoscaling cluster?)"})
    longest, began, worst_demand = 0.0, None, None
    current: list[Any] = []
    for record in records:
        wanted = _asks_for(record.get(Nodes.demand) or [], resource)
        t = float(record[Nodes.t])
        if wanted and began is None:
            began, current = t, wanted
        elif not wanted and began is not None:
            if t - began > longest:
                longest, worst_demand = t - began, current
            began = None
    if began is not None and window.end - began > longest:
        longest, worst_demand = window.end - began, current
    inputs: dict[str, Any] = {"resource": resource, "demand": worst_demand}
    if worst_demand:
        shapes = ", ".join(f"{count} x {shape}" for shape, count in worst_demand[:3])
        inputs["why"] = f"demand {shapes} stayed unmet for {longest:.1f}s"
    return Measurement(value=longest, unit="s", inputs=inputs)


@metric("autoscaler_exceptions", kind=COUNT, window="run")
def autoscaler_exceptions(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if args:
        raise SLOSyntaxError("expected autoscaler_exceptions without arguments")
    lines = [r.get(AutoscalerException.line, "") for r in timeline.events_of(AutoscalerException)]
    if not timeline.events_of(Nodes):
        return Measurement(value=None, unit="count", inputs={"why": "no node samples (not an autoscaling cluster?)"})
    inputs: dict[str, Any] = {"lines": lines[:5]}
    if lines:
        inputs["why"] = f"the autoscaler logged {len(lines)} exception line(s), first: {lines[0]}"
    return Measurement(value=float(len(lines)), unit="count", inputs=inputs)
