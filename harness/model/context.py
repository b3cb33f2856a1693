"""The run context passed explicitly to every part of a run, and the component seam.

A component (recorder, chaos schedule, workloads, live view, host guard, ...) is
started after the app is ready, ticked by the runner's loop while load runs and
during cooldown, and always stopped at teardown, in reverse order.

This is the ground floor (harness.model): the context names what a run writes to
(the timeline, the process ledger) by the few methods the run calls on them
(`TimelineSink`, `ProcessOwner`); harness.measure.timeline.TimelineWriter and
harness.procs.ledger.ProcessLedger are the implementations the runner hands in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from harness.model.cluster_handle import ClusterHandle
from harness.model.outcome import RunOutcome
from harness.model.scenario import Scenario


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


class TimelineSink(Protocol):
    """Where a run's records go (harness.measure.timeline.TimelineWriter)."""

    path: Path
    write_error: OSError | None

    def emit(self, kind: Any, t: float | None = None, **fields: Any) -> dict[str, Any]: ...

    def phase(self, name: str, edge: str, t: float | None = None, **fields: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...


class ProcessOwner(Protocol):
    """The processes a run started (harness.procs.ledger.ProcessLedger)."""

    run_id: str

    def add(self, proc: Any) -> None: ...

    def snapshot_descendants(self) -> int: ...

    def alive(self) -> list[Any]: ...

    def kill_survivors(self, grace_s: float = 2.0) -> list[Any]: ...


@dataclass(kw_only=True)
class RunArtifacts:
    """What the parts of a run leave for summary.json's `artifacts` (and for teardown to read
    back). Each field has one writer; a field left None is not written."""

    reproduces: str | None = None  # `harness reproduce`: the run folder replayed (harness.cli)
    bisect_commit: str | None = None  # `harness bisect`: the commit this run built (harness.gate.bisect)
    ports: dict[str, int] | None = None  # every port of the run's own Ray processes (runner)
    # On a cluster the run did not start: whether Serve ran before it (teardown leaves it so).
    serve_was_running: bool | None = None
    serve_config: dict[str, Any] | None = None  # the Serve config as deployed (runner)
    serve_config_notes: list[str] | None = None  # what the harness changed in it, and why
    chaos_schedule: dict[str, Any] | None = None  # the resolved chaos schedule (chaos.component)
    resource_killer: dict[str, Any] | None = None  # the workload-only fault actor (chaos.killer)
    load_workers: dict[str, dict[str, Any]] | None = None  # placement cluster: each worker (runner)
    load_windows: list[dict[str, Any]] | None = None  # the load report's table (harness.load.window_report, after the run)
    load_windows_error: str | None = None  # why that table could not be built
    # One result per planned shot: the runner copies the shots' `result` records (Timeline.shot_results).
    chaos_results: list[dict[str, Any]] | None = None
    # Where the wait for the app went: Serve's start, the deploy, the polls (runner; bench.run_vs_script).
    app_ready_steps: dict[str, Any] | None = None
    # Where teardown went, seconds per step (runner, the cluster's lease; bench.run_vs_script).
    teardown_steps: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """summary.json's `artifacts`: the fields that were set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(kw_only=True)
class RunContext:
    scenario: Scenario
    scenario_file: str
    run_id: str
    run_dir: Path
    timeline: TimelineSink
    ledger: ProcessOwner
    console: Console
    overrides: list[str] = field(default_factory=list)
    cluster: ClusterHandle | None = None
    app_url: str = ""  # http://127.0.0.1:<port><route prefix>
    load_url: str = ""  # where load goes; equals app_url unless a component reroutes it
    http_port: int = 0
    load_started_at: float | None = None
    load_ended_at: float | None = None
    artifacts: RunArtifacts = field(default_factory=RunArtifacts)

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


class RunReporter(Protocol):
    """What becomes of a run's results (harness.report.run_results.RunResults): the runner
    calls `write` once at the end of every run, whatever happened, then `show`."""

    def write(self, ctx: RunContext, outcome: RunOutcome, *, release: str, results_root: Path,
              timeline: Any = None) -> None:
        """Write the results; a file that cannot be written is a note on the outcome. timeline:
        the run's one read of its timeline (a harness.measure.timeline.Timeline), handed to
        every view of it; None: each view reads it from the run folder."""

    def show(self, ctx: RunContext, outcome: RunOutcome) -> None:
        """Show the verdicts (the console of the run)."""
