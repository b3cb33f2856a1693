"""The run context passed explicitly to every part of a run, and the component seam.

A component (recorder, chaos schedule, workloads, live view, host guard, ...) is
started after the app is ready, ticked by the runner's loop while load runs and
during cooldown, and always stopped at teardown, in reverse order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from harness.cluster.local import ClusterHandle
from harness.measure.timeline import TimelineWriter
from harness.procs.ledger import ProcessLedger
from harness.scenario.config import Scenario


class InfraError(Exception):
    """A failure of the harness or the infrastructure: the run is no verdict on the release."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class AbortRun(Exception):
    """Fail-fast (harness.run.failfast): an SLO has surely failed; end the run early, as a verdict."""

    def __init__(self, decisions: list[Any]):
        super().__init__("; ".join(str(d) for d in decisions))
        self.decisions = decisions


@dataclass
class RunContext:
    scenario: Scenario
    scenario_file: str
    run_id: str
    run_dir: Path
    timeline: TimelineWriter
    ledger: ProcessLedger
    console: Console
    overrides: list[str] = field(default_factory=list)
    cluster: ClusterHandle | None = None
    app_url: str = ""  # http://127.0.0.1:<port><route prefix>
    load_url: str = ""  # where load goes; equals app_url unless a component reroutes it
    http_port: int = 0
    load_started_at: float | None = None
    load_ended_at: float | None = None
    # Free-form data components leave for reporters (resolved chaos schedule, ...).
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        """The run's seed; consumers take their streams from harness.seed by name."""
        return self.scenario.seed


class RunComponent(Protocol):
    name: str

    def start(self, ctx: RunContext) -> None:
        """Called once the app is ready, before load starts."""

    def tick(self, ctx: RunContext) -> None:
        """Called about every 0.2 s while load runs and during cooldown; may raise InfraError."""

    def stop(self, ctx: RunContext) -> None:
        """Always called at teardown, before the cluster stops; must not raise."""

    def metrics(self) -> dict[str, Any]:
        """Numbers for summary.json and JUnit properties."""
