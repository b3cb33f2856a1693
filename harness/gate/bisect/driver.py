"""The bisect loop: ask the search for the next commit, run it, save the state, repeat.

The run itself is a callable (index, commit id, run number on that commit) -> RunRecord, so the same loop drives a
real cluster (harness.gate.bisect.commit_run) and the unit tests' fake runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.gate.bisect.bisect_state import BisectState, RunRecord
from harness.gate.bisect.search import Plan, Step, next_step

RunCommit = Callable[[int, str, int], RunRecord]
# Infrastructure errors one commit may have before the bisect gives up (no verdict).
MAX_ERRORS_PER_COMMIT = 2


def plan_of(state: BisectState) -> Plan:
    return Plan(n_commits=len(state.commits), alpha=state.alpha, flake=state.flake,
                broken_probability=state.broken_probability, max_runs=state.max_runs,
                measure_runs=state.measure_runs)


def drive(state: BisectState, folder: Path | None, run_commit: RunCommit,
          on_run: Callable[[int, RunRecord, Step], None] | None = None) -> Step:
    """Run until the search stops; the state is saved after every run (folder None: not saved)."""
    plan = plan_of(state)
    while True:
        step = next_step(plan, state.outcomes())
        if step.probe is None:
            return step
        commit = state.commits[step.probe]
        if commit.errors() >= MAX_ERRORS_PER_COMMIT:
            last = next(r.error for r in reversed(commit.runs) if not r.judged)
            return Step(outcome="error", flake=step.flake, decisions=step.decisions,
                        message=f"commit {commit.sha[:12]} had {commit.errors()} infrastructure "
                                f"errors, the last: {last}")
        started = time.monotonic()
        record = run_commit(step.probe, commit.sha, len(commit.runs))
        commit.runs.append(record)
        state.elapsed_s = round(state.elapsed_s + time.monotonic() - started, 3)
        if folder is not None:
            state.save(folder)
        if on_run is not None:
            on_run(step.probe, record, step)
