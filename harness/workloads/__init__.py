"""Workloads that run beside the traffic: tasks, actors, or any driver script.

Each is a RunComponent (harness.workloads.base.Workload) built from the scenario's
`workloads:` list; results go to the timeline as `workload` records.
"""

from __future__ import annotations

from harness.model.scenario import ActorsWorkloadSpec, Scenario, TasksWorkloadSpec
from harness.workloads.actors import ActorsWorkload
from harness.workloads.base import Workload
from harness.workloads.script import ScriptWorkload
from harness.workloads.tasks import TasksWorkload


def build_workloads(scenario: Scenario) -> list[Workload]:
    workloads: list[Workload] = []
    for spec in scenario.workloads:
        if isinstance(spec, TasksWorkloadSpec):
            workloads.append(TasksWorkload(spec, scenario.duration_s))
        elif isinstance(spec, ActorsWorkloadSpec):
            workloads.append(ActorsWorkload(spec, scenario.duration_s))
        else:
            workloads.append(ScriptWorkload(spec))
    return workloads


__all__ = ["Workload", "build_workloads"]
