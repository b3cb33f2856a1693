"""Which run components a scenario gets. Each part of the harness adds itself here."""

from __future__ import annotations

from harness.model.context import RunComponent
from harness.model.scenario import Scenario
from harness.run.health import HealthGuard
from harness.run.host_guard import HostGuard
from harness.run.live import LiveView
from harness.run.ray_scrape import RayScraper, wanted_families
from harness.run.recorder import Recorder
from harness.workloads import build_workloads


def build_components(scenario: Scenario, metrics_port: int | None = None) -> list[RunComponent]:
    """Components in start order; they are stopped in reverse order.

    The recorder starts first and stops last, so its samples cover the workloads'
    ends; the host guard is ticked after the others have started. metrics_port:
    `--metrics-port`, the live counters for Prometheus.
    """
    components: list[RunComponent] = [Recorder(scenario.recorder)]
    families = wanted_families(scenario)
    if families:  # an SLO reads Ray's own metrics: scrape the run's nodes at the recorder's cadence
        components.append(RayScraper(scenario.recorder, families))
    relay = None
    if scenario.chaos.resource_killer:  # before the workloads: a script looks it up at once
        from chaos.killer import KillerRelay

        relay = KillerRelay()
        components.append(relay)
    components.extend(build_workloads(scenario))
    autoscaling = scenario.cluster.autoscaling
    if autoscaling is not None:
        from harness.run.node_recorder import NodeGuard, NodeRecorder

        nodes = NodeRecorder(scenario.recorder)
        components += [nodes, NodeGuard(nodes, autoscaling.resolved_cap())]
    components.append(HealthGuard(scenario.health))  # the harness's own parts: cluster, disk
    if scenario.host_guard.enabled:
        components.append(HostGuard(scenario.host_guard))
    if scenario.chaos.faults:
        from chaos.component import ChaosComponent  # loads only the faults the scenario names

        components.append(ChaosComponent(scenario.chaos, relay=relay))
    if scenario.load is not None and any(s.abort_on_fail for s in scenario.slos):
        from harness.run.failfast import FailFast

        components.append(FailFast(scenario))  # ticked after the others: sees what they wrote
    if metrics_port is not None:
        from harness.run.live_metrics import LiveMetricsServer

        components.append(LiveMetricsServer(metrics_port))
    components.append(LiveView())  # last: started after the others, stopped first
    return components
