"""Which run components a scenario gets. Each part of the harness adds itself here."""

from __future__ import annotations

from harness.config import Scenario
from harness.context import RunComponent
from harness.live import LiveView
from harness.recorder import Recorder


def build_components(scenario: Scenario) -> list[RunComponent]:
    """Components in start order; they are stopped in reverse order."""
    components: list[RunComponent] = [Recorder()]
    components.append(LiveView())  # last: started after the others, stopped first
    return components
