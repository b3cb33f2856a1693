"""Key metrics of a finished run, read from its stored timeline (never re-measured live).

These are what history keeps per run and what regression checks compare with the
baseline: harness.measure.stats.KEY_METRICS of the `load` window (latency percentiles of
every final request and of successful ones, ok and sent rates, the success ratio).
"""

from __future__ import annotations

from pathlib import Path

from harness.measure import stats
from harness.measure.timeline import Timeline


def key_metrics(run_dir: Path) -> dict[str, float]:
    """A stored run's key metrics (harness.measure.stats.key_metrics); {} without a load window.
    A run in progress has them already: RunOutcome.key_metrics, from its one read of the timeline."""
    return stats.key_metrics(Timeline.load(run_dir))
