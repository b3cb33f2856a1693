"""The rank regression check (harness.gate.regression): exact statistics, and its error
rates on simulated builds drawn from known distributions (seeded, vectorised numpy).

A simulated run serves REQUESTS requests whose latency is lognormal around the build's
service time, times a run effect shared by every request of the run (machine load,
placement: what makes requests of one run correlated); the run's value is its p50. The
gate sees one value per run, as the suite does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.gate import ranktest
from harness.gate.regression import (
    INCONCLUSIVE,
    NO_BASELINE,
    OK,
    REGRESSED,
    check_regressions,
    judge_runs,
)
from harness.gate.suite_config import RegressionCheck, RegressionPolicy

GATES = 2000
REQUESTS = 250
SERVICE_MS = 58.0
POLICY = RegressionPolicy()  # rank, alpha 1%, 3 runs, 12 baseline runs
# Monte Carlo slack on a 1% rate over GATES: 3 standard errors (0.7%).
SLACK = 3 * math.sqrt(0.01 * 0.99 / GATES)


def run_p50s(rng: np.random.Generator, runs: int, shift: float, run_sd: float) -> np.ndarray:
    """(GATES, runs) per-run p50s of a build `shift` slower than the good one."""
    run_effect = rng.normal(0.0, run_sd, size=(GATES, runs, 1))
    noise = rng.normal(0.0, 0.25, size=(GATES, runs, REQUESTS))
    latencies = SERVICE_MS * (1.0 + shift) * np.exp(run_effect + noise)
    return np.median(latencies, axis=-1)


def sequential(baseline: np.ndarray, candidate: np.ndarray, tolerance_pct: float,
               policy: RegressionPolicy = POLICY) -> tuple[np.ndarray, np.ndarray]:
    """Each gate's verdict and the runs it took: the suite's loop (stop at the first
    verdict that is not inconclusive, at most max_runs runs)."""
    n = baseline.shape[-1]
    looks = ranktest.look_alphas(n, policy.max_runs, policy.alpha)
    final = np.full(GATES, INCONCLUSIVE, dtype=object)
    runs = np.full(GATES, policy.max_runs)
    open_ = np.ones(GATES, dtype=bool)
    for m in range(1, policy.max_runs + 1):
        alpha = looks[m]
        status, *_ = judge_runs(baseline, candidate[:, :m], tolerance_pct, increase=True,
                                look_alpha=alpha, confidence=1 - 2 * (alpha or policy.alpha))
        decided = open_ & (status != INCONCLUSIVE)
        final[decided] = status[decided]
        runs[decided] = m
        open_ &= ~decided
    return final, runs


def test_exact_u_distribution_and_p_values() -> None:
    counts = ranktest.u_counts(3, 2)
    assert sum(counts) == math.comb(5, 2) and counts == (1, 1, 2, 2, 2, 1, 1)
    assert ranktest.min_p_value(12, 3) == pytest.approx(1 / 455)
    # complete separation gives the smallest p; a tie counts half and is judged conservatively
    assert ranktest.p_greater(np.arange(12.0), np.array([20.0, 21.0, 22.0])) == pytest.approx(1 / 455)
    assert ranktest.p_greater(np.arange(3.0), np.array([2.0])) == pytest.approx(0.5)
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    b, c = rng.normal(size=9), rng.normal(0.5, size=4)
    expected = scipy_stats.mannwhitneyu(c, b, alternative="greater", method="exact").pvalue
    assert ranktest.p_greater(b, c) == pytest.approx(expected)


def test_hodges_lehmann_interval_covers_a_known_shift() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(100.0, 5.0, size=(GATES, 12))
    cand = rng.normal(110.0, 5.0, size=(GATES, 6))
    shift, low, high = ranktest.hodges_lehmann(base, cand, 0.9)
    assert abs(np.median(shift) - 10.0) < 0.3
    covered = ((low <= 10.0) & (10.0 <= high)).mean()
    assert covered >= 0.9 - 3 * math.sqrt(0.09 / GATES)
    assert ranktest.moses_rank(3, 1, 0.95) is None  # too few for any 95% interval


def test_looks_split_alpha_only_where_the_test_can_block() -> None:
    assert ranktest.look_alphas(12, 3, 0.01) == {1: 0.0, 2: 0.0, 3: 0.01}
    assert ranktest.look_alphas(12, 3, 0.05) == {1: 0.0, 2: 0.025, 3: 0.025}
    assert ranktest.min_rank_baseline(3, 0.01) == 7 and ranktest.min_rank_baseline(3, 0.05) == 3
    assert (POLICY.baseline_runs, POLICY.min_baseline_runs) == (12, 7)


def test_good_builds_are_blocked_at_most_alpha_of_the_time() -> None:
    rng = np.random.default_rng(21)
    baseline = run_p50s(rng, 12, 0.0, run_sd=0.02)
    candidate = run_p50s(rng, 3, 0.0, run_sd=0.02)
    # with no tolerance at all the test alone holds the rate (Bonferroni over the looks)
    bare, _ = sequential(baseline, candidate, tolerance_pct=0.0)
    assert (bare == REGRESSED).mean() <= POLICY.alpha + SLACK
    # with a 5% tolerance, good builds pass, nearly always at the first run
    final, runs = sequential(baseline, candidate, tolerance_pct=5.0)
    assert (final == REGRESSED).mean() <= POLICY.alpha
    assert (final == OK).mean() >= 0.99 and (runs == 1).mean() >= 0.9


def test_a_15_percent_slower_p50_is_blocked_within_3_runs() -> None:
    rng = np.random.default_rng(22)
    baseline = run_p50s(rng, 12, 0.0, run_sd=0.02)
    candidate = run_p50s(rng, 3, 0.15, run_sd=0.02)
    final, runs = sequential(baseline, candidate, tolerance_pct=5.0)
    assert (final == REGRESSED).mean() >= 0.95
    assert runs.max() <= 3


def test_inconclusive_where_the_runs_cannot_tell() -> None:
    rng = np.random.default_rng(23)
    baseline = run_p50s(rng, 12, 0.0, run_sd=0.02)
    slow = run_p50s(rng, 3, 0.15, run_sd=0.02)
    # one or two runs cannot reach 1% against 12: a clear +15% is inconclusive, not ok
    for m in (1, 2):
        status, *_ = judge_runs(baseline, slow[:, :m], 5.0, increase=True, look_alpha=0.0,
                                confidence=0.98)
        assert (status == INCONCLUSIVE).mean() >= 0.99
    # nights that differ by 30% from run to run: three runs cannot tell a 15% shift (a
    # third of the gates end inconclusive, fewer than half block), and good builds are
    # still not blocked
    noisy_base = run_p50s(rng, 12, 0.0, run_sd=0.3)
    noisy_slow, _ = sequential(noisy_base, run_p50s(rng, 3, 0.15, run_sd=0.3), 5.0)
    noisy_good, _ = sequential(noisy_base, run_p50s(rng, 3, 0.0, run_sd=0.3), 5.0)
    assert (noisy_slow == INCONCLUSIVE).mean() >= 0.3 and (noisy_slow == REGRESSED).mean() < 0.5
    assert (noisy_good == REGRESSED).mean() <= POLICY.alpha + SLACK


def test_the_check_on_stored_runs_names_population_interval_and_test() -> None:
    rng = np.random.default_rng(5)
    base = [{"p50_ok_ms": 58 + rng.normal(0, 0.3), "ok_rps": 8 + rng.normal(0, 0.05)} for _ in range(12)]
    slow = [{"p50_ok_ms": 66 + rng.normal(0, 0.3), "ok_rps": 8 + rng.normal(0, 0.05)} for _ in range(3)]
    policy = RegressionPolicy(checks=[RegressionCheck(metric="p50_ok_ms", max_increase_pct=5),
                                      RegressionCheck(metric="ok_rps", max_decrease_pct=5)])
    first = check_regressions(slow[0], base, policy, candidate_runs=slow[:1])
    assert [v.status for v in first] == [INCONCLUSIVE, OK]
    assert "more runs needed" in first[0].message
    p50, rps = check_regressions(slow[2], base, policy, candidate_runs=slow)
    assert (p50.status, rps.status) == (REGRESSED, OK)
    assert p50.p_value == pytest.approx(1 / 455, rel=1e-3) and p50.alpha == 0.01
    low, high = p50.interval_pct
    assert low is not None and high is not None and 5 < low <= p50.change_pct <= high
    assert p50.message.startswith("p50_ok_ms regressed: +1")
    assert "p50 of successful requests, per run" in p50.message and "judged with ok_rps" in p50.message
    few = check_regressions(slow[0], base[:6], policy, candidate_runs=slow)
    assert few[0].status == NO_BASELINE and "6 of 7" in few[0].message


def test_a_build_cannot_look_faster_by_failing_more() -> None:
    """The issue's case: p50 over every request fell from 131 ms to 4 ms because the
    slower build shed 187 of 251 requests. A latency check alone is refused; beside
    the success ratio, the shedding build is blocked."""
    with pytest.raises(ValueError, match="success_ratio or ok_rps check"):
        RegressionPolicy(checks=[RegressionCheck(metric="p50_ms", max_increase_pct=10)])
    policy = RegressionPolicy(alpha=0.05, checks=[RegressionCheck(metric="p50_ms", max_increase_pct=10),
                                                  RegressionCheck(metric="success_ratio", max_decrease_pct=5)])
    base = [{"p50_ms": 131.0 + i, "success_ratio": 0.98 + i / 1000} for i in range(5)]
    shedding = [{"p50_ms": 4.0 + i / 10, "success_ratio": 64 / 251 + i / 1000} for i in range(3)]
    p50, ratio = check_regressions(shedding[-1], base, policy, candidate_runs=shedding)
    assert p50.status == OK and p50.change_pct < -90  # faster, by failing
    assert ratio.status == REGRESSED and ratio.change_pct < -70
