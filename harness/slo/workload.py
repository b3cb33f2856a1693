"""Workload SLOs, judged on the result each workload writes to the timeline (kind
`workload`, event `result`; see harness.workloads). The default window is the run.

    tasks_failed(chaos_tasks) == 0       tasks lost (raised, or no answer in time) or
                                         wrong: every task complete and correct
    tasks_lost(chaos_tasks) == 0         tasks_wrong(chaos_tasks) == 0
    messages_lost(relay) == 0            acknowledged messages the actors lost
    exit_code(train) == 0                a script's exit code
    workload(train, time) < 60           any numeric field of a workload's result,
                                         including the metrics a script wrote
"""

from __future__ import annotations

from typing import Any

from harness.measure.records import WorkloadRecord
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import (
    COUNT,
    EXIT_CODE,
    VALUE,
    Measurement,
    MetricFn,
    SLOSyntaxError,
    metric,
)


def workload_result(timeline: Timeline, window: Window, name: str) -> dict[str, Any] | None:
    results = [
        e for e in timeline.events_of(WorkloadRecord, window)
        if e.get(WorkloadRecord.name) == name and e.get(WorkloadRecord.event) == "result"
    ]
    return results[-1] if results else None


def _field(timeline: Timeline, window: Window, metric_name: str, args: list[str], field: str | None) -> Measurement:
    if not args or len(args) != (1 if field else 2):
        usage = f"{metric_name}(Workload)" if field else "workload(Workload, field)"
        raise SLOSyntaxError(f"expected {usage}, got {metric_name}({', '.join(args)})")
    name = args[0]
    field = field or args[1]
    result = workload_result(timeline, window, name)
    if result is None:
        return Measurement(value=None, unit="count", inputs={"why": f"workload {name!r} reported no result"})
    value = (result.get(WorkloadRecord.metrics) or {}).get(field, result.get(field))
    inputs = {"workload": name, "field": field, "result": result}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        inputs["why"] = f"workload {name!r} has no numeric {field!r} in its result"
        return Measurement(value=None, unit="count", inputs=inputs)
    if value and result.get(WorkloadRecord.why):
        inputs["why"] = result[WorkloadRecord.why]
    return Measurement(value=float(value), unit="count", inputs=inputs)


@metric("tasks_failed", kind=COUNT, window="run", subject="workload")
def tasks_failed(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    measured = _field(timeline, window, "tasks_failed", args, "lost")
    if measured.value is not None:
        measured.value += float(measured.inputs["result"].get("wrong", 0))
    return measured


def field_metric(metric_name: str, field: str) -> MetricFn:
    """A metric that reads one numeric field of a workload's result."""

    def measure(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
        return _field(timeline, window, metric_name, args, field)

    measure.__name__ = metric_name
    return measure


# metric name -> the result field it reads
FIELD_METRICS = {
    "tasks_lost": "lost", "tasks_wrong": "wrong", "messages_lost": "lost", "exit_code": "exit_code",
}
for _name, _field_name in FIELD_METRICS.items():
    metric(_name, kind=EXIT_CODE if _name == "exit_code" else COUNT, window="run", subject="workload")(
        field_metric(_name, _field_name))


@metric("workload", kind=VALUE, window="run", subject="workload")
def workload_field(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _field(timeline, window, "workload", args, None)
