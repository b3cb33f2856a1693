"""Rules of a workload-only scenario (`app: none`): Ray core chaos without Serve.

Such a run deploys no Serve app and starts no load process: its workloads drive it
(harness.run.runner), its chaos schedule counts from their start (or from the script's
`ResourceKiller.run()`, see chaos.killer), and it is judged by workload, resource and
node SLOs. Everything that needs Serve or requests is a config error here, found
before anything starts:

    a request or replica SLO, or an SLO judged over `load` (there is no load window)
    a Serve fault (replica, proxy, controller, the network proxy in front of the app)
    no workload at all (nothing would drive the run)

and, for every scenario, `chaos.resource_killer: true` needs a node fault to relay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.hooks import hookimpl
from harness.model.scenario import Scenario

if TYPE_CHECKING:
    from chaos.api import Fault

# Fault target kinds that exist only with a Serve app (network: the proxy before the app).
SERVE_TARGETS = ("replica", "proxy", "controller", "network")
# Metrics outside harness.slo.requests and harness.slo.autoscaling_metrics (replicas) that still
# read requests or replicas.
SERVE_METRIC_NAMES = frozenset({"recovery_time", "time_to_success", "failed_requests", "replica_recovery_time",
                                "replica_outage"})
SERVE_METRIC_MODULES = frozenset({"harness.slo.requests", "harness.slo.autoscaling_metrics"})
# The window a workload-only run's drive spans (harness.run.runner), from start to the last result.
# (The ResourceKiller's implicit verdict lives with the others in harness.slo.implicit.)
DRIVE_WINDOW = "workloads"


def needs_serve(metric_name: str) -> bool:
    """Whether a metric reads requests or Serve replicas (meaningless without an app)."""
    from harness.slo.catalog import METRICS

    fn = METRICS.get(metric_name)
    return metric_name in SERVE_METRIC_NAMES or (fn is not None and fn.__module__ in SERVE_METRIC_MODULES)


def slo_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """SLOs a workload-only scenario cannot judge, as (key path, message)."""
    from harness.measure.windows import WindowSyntaxError, names_in
    from harness.slo.core import parse_check, window_of
    from harness.slo.registry import SLOSyntaxError

    problems: list[tuple[str, str]] = []
    for index, spec in enumerate(scenario.slos):
        try:
            check = parse_check(spec.check)
            window = window_of(spec)
            names = names_in(window)
        except (SLOSyntaxError, WindowSyntaxError):
            continue  # reported by the SLO checks already
        if needs_serve(check.metric):
            problems.append((f"slos.{index}.check", (
                f"expected a workload, resource or node SLO with app: none, got {check.metric!r}: "
                "it reads requests or Serve replicas, and a workload-only run has neither"
            )))
        elif "load" in names or "after_load" in names:
            problems.append((f"slos.{index}.window", (
                f"expected a window other than {window!r} with app: none (no load runs); "
                "e.g. 'run', a workload's name, 'after <workload>' or 'fault-1 + 30s'"
            )))
    return problems


def fault_problems(scenario: Scenario, classes: dict[str, type[Fault]]) -> list[tuple[str, str]]:
    """Faults a scenario cannot run: Serve faults without an app, a killer with no node fault."""
    problems: list[tuple[str, str]] = []
    spec = scenario.chaos
    if scenario.workload_only:
        for index, entry in enumerate(spec.faults):
            cls = classes.get(entry.fault)
            if cls is not None and cls.target_kind in SERVE_TARGETS:
                problems.append((f"chaos.faults.{index}.fault", (
                    f"expected a fault that needs no Serve app with app: none, got {entry.fault!r} "
                    f"(it targets the app's {cls.target_kind})"
                )))
    if spec.resource_killer:
        node_faults = [e for e in spec.faults if (c := classes.get(e.fault)) is not None and c.kills_node]
        known = all(e.fault in classes for e in spec.faults)  # an unknown fault is reported already
        if not node_faults and known:
            problems.append(("chaos.resource_killer", (
                "expected at least one node fault in chaos.faults (kill_raylet, terminate_node, "
                "drain_node, ...) with resource_killer: true: the ResourceKiller only starts and "
                "stops the scenario's node-fault schedule"
            )))
    return problems


def loadable_faults(names: list[str]) -> dict[str, type[Fault]]:
    """The fault classes that load; one that does not is reported by chaos.fault_registry already."""
    from chaos import fault_registry as registry

    classes = {}
    for name in dict.fromkeys(names):
        try:
            classes[name] = registry.load(name)
        except registry.UnknownFault:
            continue
    return classes


@hookimpl
def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every rule of this module, as (key path, message)."""
    problems: list[tuple[str, str]] = []
    if scenario.workload_only:
        if not scenario.workloads:
            problems.append(("workloads", (
                "expected at least one workload with app: none: a workload-only run is driven by its workloads"
            )))
        problems += slo_problems(scenario)
        for index, work in enumerate(scenario.workloads):
            if work.name == DRIVE_WINDOW:
                problems.append((f"workloads.{index}.name", (
                    f"expected a workload name other than {DRIVE_WINDOW!r} with app: none "
                    "(the window of the whole drive has that name)"
                )))
    if scenario.chaos.faults or scenario.chaos.resource_killer:
        problems += fault_problems(scenario, loadable_faults([f.fault for f in scenario.chaos.faults]))
    return problems
