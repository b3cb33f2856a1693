"""Regression checks: a build's key metrics against the baseline of earlier runs.

Two methods (the suite's `regression.method`):

rank (default): a test and an effect size, as Kayenta and Pinpoint decide. The unit is
    the run: each baseline run and each candidate run gives one value (its p50 of
    successful requests, its ok rate, ...). Requests within a run share that run's
    conditions (machine load, placement, warm-up), so pooling requests would count
    correlated samples as independent and overstate significance; one value per run
    is the honest unit. The candidate runs are compared with the baseline runs by an
    exact one-sided Mann-Whitney U test and the Hodges-Lehmann shift with its
    distribution-free interval, both in percent of the baseline median:
        regressed      p <= alpha (for this look) AND the shift exceeds the tolerance
        ok             the shift is within the tolerance (max_increase_pct /
                       max_decrease_pct), significant or not
        inconclusive   the shift exceeds the tolerance but is not significant yet: the
                       suite reruns the scenario (up to `max_runs` candidate runs)
    A suite may look after 1, 2, ... max_runs candidate runs; alpha is split equally
    over the looks at which the test can reach significance at all (a look whose
    smallest possible p-value exceeds its share can never block), so the chance that a
    good build is blocked over all looks stays at most alpha (Bonferroni).
percent: the point change of the final run against the median of the baseline runs
    (the method before issue 22; kept for suites with a short history).

Each check names its population (harness.measure.stats): p*_ms is every final request,
p*_ok_ms successful ones. A latency check is only accepted beside a check on the
success ratio or the ok rate (config validation): a build that sheds or fails more
can look faster, never better.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.gate import ranktest
from harness.gate.suite_config import (
    LATENCY_METRICS,
    POPULATIONS,
    RegressionCheck,
    RegressionPolicy,
)

REGRESSED, OK, NO_BASELINE, NO_DATA = "regressed", "ok", "no_baseline", "no_data"
INCONCLUSIVE = "inconclusive"


@dataclass(kw_only=True)
class RegressionVerdict:
    metric: str
    status: str  # ok | regressed | inconclusive | no_baseline | no_data
    measured: float | None  # the candidate runs' median (rank) / the final run's value (percent)
    baseline: float | None  # the baseline runs' median
    baseline_runs: int
    change_pct: float | None  # rank: the Hodges-Lehmann shift in % of the baseline median
    limit: str  # e.g. "+50%" or "-30%"
    message: str
    method: str = "percent"
    population: str = ""
    runs: int = 1  # candidate runs judged
    p_value: float | None = None
    alpha: float | None = None  # this look's share of the policy's alpha
    interval_pct: list[float | None] = field(default_factory=list)  # [low, high] of the shift, %
    confidence: float | None = None

    @property
    def regressed(self) -> bool:
        return self.status == REGRESSED

    @property
    def inconclusive(self) -> bool:
        return self.status == INCONCLUSIVE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_of(metric: str, runs: list[dict[str, float]]) -> tuple[float | None, int]:
    """The median of a metric over baseline runs (those that have it), and how many had it."""
    samples = [float(m[metric]) for m in runs if m.get(metric) is not None]
    return (statistics.median(samples) if samples else None), len(samples)


def _limit(check: RegressionCheck) -> tuple[bool, float, str]:
    increase = check.max_increase_pct is not None
    limit_pct = check.max_increase_pct if increase else check.max_decrease_pct
    assert limit_pct is not None
    return increase, limit_pct, f"{'+' if increase else '-'}{limit_pct:g}%"


def _name(check: RegressionCheck, policy: RegressionPolicy) -> str:
    """The metric with its population, and the ratio check a latency is judged with."""
    text = f"{check.metric} ({POPULATIONS[check.metric]})"
    if check.metric in LATENCY_METRICS:
        partners = [c.metric for c in policy.checks if c.metric not in LATENCY_METRICS and c.max_decrease_pct]
        if partners:
            text += f", judged with {' and '.join(partners)}"
    return text


def _percent_check(check: RegressionCheck, measured: float | None, runs: list[dict[str, float]],
                   policy: RegressionPolicy) -> RegressionVerdict:
    increase, limit_pct, limit = _limit(check)
    name = check.metric
    baseline, count = baseline_of(name, runs)
    min_runs = policy.min_baseline_runs or 1
    if baseline is None or count < min_runs:
        return RegressionVerdict(
            metric=name, status=NO_BASELINE, measured=measured, baseline=None, baseline_runs=count, change_pct=None, limit=limit,
            message=f"{name}: no baseline yet ({count} of {min_runs} comparable passing runs)",
            population=POPULATIONS[name],
        )
    if measured is None:
        return RegressionVerdict(metric=name, status=NO_DATA, measured=None, baseline=baseline, baseline_runs=count, change_pct=None, limit=limit,
                                 message=f"{name}: not measured in this run", population=POPULATIONS[name])
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
    return RegressionVerdict(metric=name, status=REGRESSED if worse else OK, measured=measured, baseline=baseline, baseline_runs=count,
                             change_pct=round(change, 3), limit=limit, message=message, population=POPULATIONS[name])


def judge_runs(baseline: np.ndarray, candidate: np.ndarray, limit_pct: float, *, increase: bool,
               look_alpha: float, confidence: float) -> tuple[np.ndarray, ...]:
    """The rank method's verdict over batches of gates (vectorised: the unit tests'
    simulations call this too). baseline (..., n) and candidate (..., m) per-run values.

    Returns (status, p, shift %, low %, high %), the shift and its interval in percent of
    each baseline's median, oriented so that positive is worse (a rate that fell is +).
    """
    sign = 1.0 if increase else -1.0
    base = np.asarray(baseline, dtype=float)
    center = np.abs(np.median(base, axis=-1, keepdims=True))
    scale = np.where(center > 0, center, 1.0)
    b = sign * base / scale * 100.0
    c = sign * np.asarray(candidate, dtype=float) / scale * 100.0
    p = ranktest.p_greater(b, c)
    shift, low, high = ranktest.hodges_lehmann(b, c, confidence)
    worse = shift > limit_pct
    significant = (p <= look_alpha) if look_alpha > 0 else np.zeros_like(worse)
    status = np.where(worse & significant, REGRESSED, np.where(worse, INCONCLUSIVE, OK))
    return status, p, shift, low, high


def _rank_check(check: RegressionCheck, candidate: list[float], runs: list[dict[str, float]],
                policy: RegressionPolicy) -> RegressionVerdict:
    increase, limit_pct, limit = _limit(check)
    name = check.metric
    population = POPULATIONS[name]
    base = [float(r[name]) for r in runs if r.get(name) is not None]
    n, m = len(base), len(candidate)
    assert policy.min_baseline_runs is not None
    common = {"method": "rank", "population": population, "runs": m}
    if n < policy.min_baseline_runs:
        return RegressionVerdict(
            metric=name, status=NO_BASELINE, measured=None, baseline=None, baseline_runs=n, change_pct=None, limit=limit,
            message=f"{name}: no baseline yet ({n} of {policy.min_baseline_runs} comparable passing runs"
            " a rank test needs)", **common)
    if m == 0:
        return RegressionVerdict(metric=name, status=NO_DATA, measured=None, baseline=statistics.median(base), baseline_runs=n, change_pct=None, limit=limit,
                                 message=f"{name}: not measured in this run", **common)
    look = ranktest.look_alphas(n, policy.max_runs, policy.alpha).get(min(m, policy.max_runs), 0.0)
    center = statistics.median(base)
    sign = 1.0 if increase else -1.0
    confidence = 1.0 - 2.0 * (look if look > 0 else policy.alpha)
    statuses, ps, shifts, lows, highs = judge_runs(
        np.array([base]), np.array([candidate]), limit_pct, increase=increase, look_alpha=look,
        confidence=confidence)
    status = str(statuses[0])
    p, shift, low, high = float(ps[0]), float(shifts[0]), float(lows[0]), float(highs[0])
    significant = look > 0 and p <= look
    verb = {REGRESSED: "regressed", INCONCLUSIVE: "inconclusive", OK: "within tolerance"}[status]
    # Report in the metric's own direction: a rate that fell shows a negative change.
    shown = sorted((sign * low, sign * high))
    interval = [None if math.isinf(v) else round(v, 2) for v in shown]
    change = round(sign * shift, 3)
    test = (f"p={p:.3g} {'<=' if significant else '>'} {look:.3g}" if look > 0
            else f"p={p:.3g}, {m} run{'s' if m != 1 else ''} cannot reach alpha {policy.alpha:g}")
    span = ", ".join("open" if v is None else f"{v:+.1f}" for v in interval)
    why = ""
    if status == INCONCLUSIVE:
        why = "; more runs needed" if m < policy.max_runs else f"; budget of {policy.max_runs} runs spent"
    message = (
        f"{name} {verb}: {change:+.1f}% [{span}] over {m} run{'s' if m != 1 else ''} vs "
        f"{n} baseline runs (median {center:g}), {test}, tolerance {limit}{why}; {_name(check, policy)}"
    )
    return RegressionVerdict(metric=name, status=status, measured=round(statistics.median(candidate), 6), baseline=center, baseline_runs=n, change_pct=change,
                             limit=limit, message=message, p_value=round(p, 6), alpha=look,
                             interval_pct=interval, confidence=round(confidence, 6), **common)


def check_regressions(
    metrics: dict[str, float],
    baseline_runs: list[dict[str, float]],
    policy: RegressionPolicy,
    *,
    candidate_runs: list[dict[str, float]] | None = None,
) -> list[RegressionVerdict]:
    """Compare this build's runs with earlier runs' metrics (newest first) under the policy.

    `metrics`: the final run's key metrics; `candidate_runs`: every judged run of this
    build in this suite run (default: the final run alone). The rank method judges them
    all, the percent method the final run.
    """
    assert policy.baseline_runs is not None
    recent = baseline_runs[: policy.baseline_runs]
    candidates = candidate_runs if candidate_runs else [metrics]
    out = []
    for check in policy.checks:
        if policy.method == "percent":
            out.append(_percent_check(check, metrics.get(check.metric), recent, policy))
        else:
            values = [float(r[check.metric]) for r in candidates if r.get(check.metric) is not None]
            out.append(_rank_check(check, values[-policy.max_runs:], recent, policy))
    return out
