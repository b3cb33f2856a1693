"""Regression checks: a run's key metrics against the baseline of earlier runs.

The baseline of a metric is the median over the last `baseline_runs` passing runs
of the same scenario with the same resolved config (history supplies them). The
median keeps one noisy run from moving the baseline on a shared machine. With
fewer than `min_baseline_runs` comparable runs there is no verdict yet.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from harness.gate.config import RegressionCheck, RegressionPolicy

REGRESSED, OK, NO_BASELINE, NO_DATA = "regressed", "ok", "no_baseline", "no_data"


@dataclass
class RegressionVerdict:
    metric: str
    status: str  # ok | regressed | no_baseline | no_data
    measured: float | None
    baseline: float | None
    baseline_runs: int
    change_pct: float | None
    limit: str  # e.g. "+50%" or "-30%"
    message: str

    @property
    def regressed(self) -> bool:
        return self.status == REGRESSED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_of(metric: str, runs: list[dict[str, float]]) -> tuple[float | None, int]:
    """The median of a metric over baseline runs (those that have it), and how many had it."""
    samples = [float(m[metric]) for m in runs if m.get(metric) is not None]
    return (statistics.median(samples) if samples else None), len(samples)


def _check_one(
    check: RegressionCheck, measured: float | None, runs: list[dict[str, float]], policy: RegressionPolicy
) -> RegressionVerdict:
    increase = check.max_increase_pct is not None
    limit_pct = check.max_increase_pct if increase else check.max_decrease_pct
    assert limit_pct is not None
    limit = f"{'+' if increase else '-'}{limit_pct:g}%"
    name = check.metric
    baseline, count = baseline_of(name, runs)
    if baseline is None or count < policy.min_baseline_runs:
        return RegressionVerdict(
            name, NO_BASELINE, measured, None, count, None, limit,
            f"{name}: no baseline yet ({count} of {policy.min_baseline_runs} comparable passing runs)",
        )
    if measured is None:
        return RegressionVerdict(name, NO_DATA, None, baseline, count, None, limit,
                                 f"{name}: not measured in this run")
    if baseline == 0:
        change = 0.0 if measured == 0 else float("inf")
    else:
        change = (measured - baseline) / abs(baseline) * 100.0
    worse = change > limit_pct if increase else -change > limit_pct
    verb = "regressed" if worse else "within bounds"
    message = (
        f"{name} {verb}: {measured:g} vs baseline {baseline:g} (median of {count} runs), "
        f"change {change:+.1f}%, limit {limit}"
    )
    return RegressionVerdict(name, REGRESSED if worse else OK, measured, baseline, count,
                             round(change, 3), limit, message)


def check_regressions(
    metrics: dict[str, float],
    baseline_runs: list[dict[str, float]],
    policy: RegressionPolicy,
) -> list[RegressionVerdict]:
    """Compare `metrics` with earlier runs' metrics (newest first) under the policy."""
    recent = baseline_runs[: policy.baseline_runs]
    out = []
    for check in policy.checks:
        out.append(_check_one(check, metrics.get(check.metric), recent, policy))
    return out
