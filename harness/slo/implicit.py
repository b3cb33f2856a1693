"""Verdicts a scenario gets without asking for them.

    faults injected as planned          every scenario with chaos: `faults_missed == 0`
                                        (harness.slo.faults): a chaos test whose faults
                                        did not fire proved nothing about them
    the script started the ResourceKiller   chaos.resource_killer: true:
                                        `resource_killer_started == 1` (harness.slo.resources)

An SLO the scenario already states with the same check replaces the implicit one.
"""

from __future__ import annotations

from harness.model.scenario import Scenario, SLOSpec

FAULTS_CHECK = "faults_missed == 0"
FAULTS_SLO_NAME = "faults injected as planned"
KILLER_CHECK = "resource_killer_started == 1"
KILLER_SLO_NAME = "the script started the ResourceKiller"


def _stated(scenario: Scenario, check: str) -> bool:
    return any(s.check.replace(" ", "") == check.replace(" ", "") for s in scenario.slos)


def implicit_slos(scenario: Scenario) -> list[SLOSpec]:
    """The scenario's implicit SLOs, judged after its own (over the whole run)."""
    out = []
    if scenario.chaos.resource_killer and not _stated(scenario, KILLER_CHECK):
        out.append(SLOSpec(check=KILLER_CHECK, name=KILLER_SLO_NAME, window="run"))
    if scenario.chaos.faults and not _stated(scenario, FAULTS_CHECK):
        out.append(SLOSpec(check=FAULTS_CHECK, name=FAULTS_SLO_NAME, window="run"))
    return out
