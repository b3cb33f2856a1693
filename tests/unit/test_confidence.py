"""harness.measure.confidence: intervals proven by simulation from known distributions.

Every simulation is seeded and vectorised (thousands of runs in one numpy draw). The
Monte Carlo slack is 4 standard errors of the estimated rate, so a correct interval
fails a test about once in 30,000 runs and a wrong one (a few points off) fails it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from harness.measure import confidence as ci

RUNS = 4000


def slack(rate: float, runs: int = RUNS) -> float:
    return 4.0 * math.sqrt(rate * (1.0 - rate) / runs)


def exact_coverage(n: int, q: float, confidence: float) -> float:
    """What the order-statistic interval covers by construction: P(l <= B <= u - 1)."""
    low, high = ci.quantile_ranks(n, q, confidence)
    upper = 1.0 if high is None else special.bdtr(high - 1, n, q)
    lower = 0.0 if low is None else special.bdtr(low - 1, n, q)
    return float(upper - lower)


# -- ranks ------------------------------------------------------------------------------


def test_median_ranks_match_the_published_table() -> None:
    # The 95% interval for the median of 100 samples is [x_(40), x_(61)] (Conover, table A3).
    assert ci.quantile_ranks(100, 0.5, 0.95) == (40, 61)


def test_p99_of_100_samples_has_no_upper_bound() -> None:
    low, high = ci.quantile_ranks(100, 0.99, 0.95)
    assert high is None and low is not None and low < 99


def test_too_few_samples_leave_both_sides_open() -> None:
    assert ci.quantile_ranks(3, 0.5, 0.95) == (None, None)
    assert ci.quantile_ranks(0, 0.5) == (None, None)


def test_ranks_narrow_as_samples_grow() -> None:
    widths = []
    for n in (1000, 10_000, 100_000):
        low, high = ci.quantile_ranks(n, 0.99, 0.95)
        assert low is not None and high is not None and low <= math.ceil(0.99 * n) <= high
        widths.append((high - low) / n)
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize("n,q", [(50, 0.5), (300, 0.9), (1000, 0.99), (5000, 0.999)])
def test_ranks_hold_their_confidence_by_construction(n: int, q: float) -> None:
    for level in (0.9, 0.95, 0.99):
        assert exact_coverage(n, q, level) >= level - 1e-12


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        ci.quantile_ranks(10, 0.5, 1.0)
    with pytest.raises(ValueError):
        ci.quantile_ranks(10, 0.0)
    with pytest.raises(ValueError):
        ci.ratio_interval(3, 0)
    with pytest.raises(ValueError):
        ci.ratio_interval(5, 4)


# -- percentile intervals cover the true percentile at their stated rate -------------------


@pytest.mark.parametrize("n,pct", [(300, 50.0), (300, 90.0), (2000, 99.0)])
def test_percentile_interval_covers_the_true_percentile(n: int, pct: float) -> None:
    rng = np.random.default_rng(22)
    mu, sigma = math.log(60.0), 0.6  # lognormal latencies, median 60 ms
    true = math.exp(mu + sigma * special.ndtri(pct / 100.0))
    low, high = ci.percentile_intervals(rng.lognormal(mu, sigma, size=(RUNS, n)), pct, 0.95)
    covered = float(np.mean((low <= true) & (true <= high)))
    expected = exact_coverage(n, pct / 100.0, 0.95)  # >= 0.95, the binomial's granularity
    assert expected >= 0.95
    assert abs(covered - expected) <= slack(expected), (covered, expected)


def test_percentile_interval_stays_conservative_when_latencies_tie() -> None:
    # Whole milliseconds from a narrow distribution: many ties at the percentile.
    rng = np.random.default_rng(7)
    samples = np.floor(rng.gamma(4.0, 2.0, size=(RUNS, 400)))
    true = np.quantile(np.floor(rng.gamma(4.0, 2.0, size=2_000_000)), 0.9, method="inverted_cdf")
    low, high = ci.percentile_intervals(samples, 90.0, 0.95)
    assert np.mean((low <= true) & (true <= high)) >= 0.95 - slack(0.95)


def test_one_run_interval_matches_the_vectorised_one() -> None:
    rng = np.random.default_rng(3)
    values = sorted(rng.exponential(10.0, size=500).tolist())
    interval = ci.percentile_interval(values, 99.0, 0.9)
    low, high = ci.percentile_intervals(np.array([values]), 99.0, 0.9)
    assert (interval.low, interval.high) == (low[0], high[0])
    assert interval.contains(values[math.ceil(0.99 * 500) - 1])  # the nearest-rank estimate


# -- ratio intervals -----------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.001, 0.01, 0.2, 0.5, 0.97, 0.995])
def test_clopper_pearson_covers_at_least_its_rate(p: float) -> None:
    n = 500
    k = np.random.default_rng(int(p * 1e6)).binomial(n, p, size=20_000)
    low, high = ci.clopper_pearson(k, n, 0.95)
    assert np.mean((low <= p) & (p <= high)) >= 0.95 - slack(0.95, 20_000)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_wilson_covers_about_its_rate_away_from_the_edges(p: float) -> None:
    n = 400
    k = np.random.default_rng(int(p * 1e3)).binomial(n, p, size=20_000)
    low, high = ci.wilson(k, n, 0.95)
    assert abs(np.mean((low <= p) & (p <= high)) - 0.95) <= 0.01


def test_ratio_edges_are_exact() -> None:
    none = ci.ratio_interval(0, 300)
    assert none.low == 0.0 and 0.0 < none.high < 0.02  # rule of three: about 3/n
    every = ci.ratio_interval(300, 300, method="wilson")
    assert every.high == 1.0 and every.low > 0.98


def test_ratio_interval_contains_the_measured_ratio() -> None:
    for k, n in ((1, 10), (37, 120), (999, 1000)):
        for method in ci.RATIO_METHODS:
            assert ci.ratio_interval(k, n, 0.95, method).contains(k / n)


# -- outcomes: inconclusive where it should be ---------------------------------------------


def test_outcome_truth_table() -> None:
    interval = ci.Interval(low=861.0, high=1004.0, confidence=0.95, method="order-statistics")
    assert ci.outcome("<", 1000.0, interval, True) == ci.INCONCLUSIVE
    assert ci.outcome("<", 1100.0, interval, True) == ci.PASS
    assert ci.outcome("<", 861.0, interval, False) == ci.FAIL
    assert ci.outcome(">=", 800.0, interval, True) == ci.PASS
    assert ci.outcome(">=", 1004.5, interval, False) == ci.FAIL
    assert ci.outcome("<", 1e9, ci.Interval(low=5.0, high=None, confidence=0.95, method="order-statistics"), True) == ci.INCONCLUSIVE
    assert ci.outcome("==", 0.0, ci.Interval(low=0.0, high=0.01, confidence=0.95, method="wilson"), True) == ci.PASS
    assert ci.outcome("<", 1.0, None, False) == ci.FAIL


def test_at_the_bound_a_verdict_is_inconclusive_and_rarely_decided() -> None:
    # The true p99 sits exactly on the bound: a decided verdict is a wrong one, each side
    # at most (1 - confidence) / 2 of the time.
    rng = np.random.default_rng(99)
    mu, sigma = math.log(50.0), 0.5
    bound = math.exp(mu + sigma * special.ndtri(0.99))
    low, high = ci.percentile_intervals(rng.lognormal(mu, sigma, size=(RUNS, 2000)), 99.0, 0.95)
    outcomes = ci.outcomes("<", bound, low, high)
    assert np.mean(outcomes == ci.PASS) <= 0.025 + slack(0.025)
    assert np.mean(outcomes == ci.FAIL) <= 0.025 + slack(0.025)
    assert np.mean(outcomes == ci.INCONCLUSIVE) >= 0.95 - slack(0.95)


def test_far_from_the_bound_a_verdict_is_decided() -> None:
    rng = np.random.default_rng(5)
    samples = rng.lognormal(math.log(50.0), 0.5, size=(RUNS, 2000))
    true_p99 = 50.0 * math.exp(0.5 * special.ndtri(0.99))
    low, high = ci.percentile_intervals(samples, 99.0, 0.95)
    assert np.mean(ci.outcomes("<", 1.3 * true_p99, low, high) == ci.PASS) >= 0.99
    assert np.mean(ci.outcomes("<", 0.75 * true_p99, low, high) == ci.FAIL) >= 0.99


def test_small_samples_stay_inconclusive_on_the_open_side() -> None:
    # 100 requests cannot show a p99 below any bound: never a pass, however fast.
    rng = np.random.default_rng(1)
    low, high = ci.percentile_intervals(rng.exponential(1.0, size=(RUNS, 100)), 99.0, 0.95)
    outcomes = ci.outcomes("<", 1e6, low, high)
    assert set(np.unique(outcomes)) == {ci.INCONCLUSIVE}


def test_ratio_at_the_bound_is_inconclusive() -> None:
    n, p = 2000, 0.99  # success_ratio >= 99% with the true ratio exactly 99%
    k = np.random.default_rng(4).binomial(n, p, size=20_000)
    low, high = ci.clopper_pearson(k, n, 0.95)
    outcomes = ci.outcomes(">=", p, low, high)
    assert np.mean(outcomes == ci.PASS) <= 0.025 + slack(0.025, 20_000)
    assert np.mean(outcomes == ci.INCONCLUSIVE) >= 0.95 - slack(0.95, 20_000)


def test_parse_confidence() -> None:
    assert ci.parse_confidence("95%") == pytest.approx(0.95)
    assert ci.parse_confidence(0.99) == 0.99
    for bad in (95, "100%", 0, "x"):
        with pytest.raises(ValueError):
            ci.parse_confidence(bad)
