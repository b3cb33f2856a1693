"""Confidence intervals for what a run measures, and the outcome they allow (pure functions).

THE interval module: every verdict, pooled suite attempt and simulation takes its
intervals from here, so an interval is computed one way everywhere.

- A percentile gets a distribution-free interval from order statistics: the number of
  samples at or below the true q-quantile is Binomial(n, q) whatever the latency
  distribution, so the ranks (l, u) with P(l <= B <= u - 1) >= confidence bound it by
  [x_(l), x_(u)] (closed: still conservative when latencies tie). Too few samples leave a
  side open (None): p99 from 100 requests has no upper bound at 95%.
- A ratio (k of n) gets Clopper-Pearson (exact: covers at least its stated rate for every
  true ratio, which matters near 0 and 1 where SLO ratios live) or Wilson (shorter, covers
  about its stated rate on average).
- Counts and times are as measured: no interval.

`outcome` turns an interval into pass / fail / inconclusive for a check `value OP bound`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from harness.model.outcome import FAIL, INCONCLUSIVE, PASS, Outcome

__all__ = ["FAIL", "INCONCLUSIVE", "PASS", "Outcome"]  # the verdict vocabulary lives with Verdict

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True, kw_only=True)
class Interval:
    """[low, high] at `confidence`; a side that the data cannot bound is None (open)."""

    low: float | None
    high: float | None
    confidence: float
    method: str  # "order-statistics", "clopper-pearson", "wilson"

    def as_dict(self) -> dict[str, float | str | None]:
        return {"low": self.low, "high": self.high, "confidence": self.confidence, "method": self.method}

    def contains(self, value: float) -> bool:
        return (self.low is None or self.low <= value) and (self.high is None or value <= self.high)


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected a confidence between 0 and 1 (exclusive), got {confidence!r}")
    return float(confidence)


def quantile_ranks(n: int, q: float, confidence: float = DEFAULT_CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) with P(x_(l) <= true q-quantile <= x_(u)) >= confidence.

    Equal tails: each side misses with probability at most (1 - confidence) / 2. A side
    that n samples cannot bound is None. q is a fraction (0.99 for p99).
    """
    confidence = _check_confidence(confidence)
    if not 0.0 < q <= 1.0:
        raise ValueError(f"expected a quantile in (0, 1], got {q!r}")
    if n <= 0:
        return None, None
    if q >= 1.0:  # the maximum: every sample lies at or below it, nothing bounds it above
        return n, None
    tail = (1.0 - confidence) / 2.0
    # B = samples below the true quantile ~ Binomial(n, q). Only ranks within ~12 sd of
    # n*q can matter (the CDF is 0 or 1 to double precision outside), so a long run
    # costs a band, not an array of n.
    sd = math.sqrt(n * q * (1.0 - q))
    lo_k = max(0, int(n * q - 12 * sd) - 2)
    hi_k = min(n, int(n * q + 12 * sd) + 2)
    ks = np.arange(lo_k, hi_k + 1)
    cdf = special.bdtr(ks, n, q)  # P(B <= k)
    # lower: the largest l with P(B <= l - 1) <= tail (x_(l) is above the quantile only then)
    below = ks[cdf <= tail]
    low = int(below[-1]) + 1 if below.size else (lo_k if lo_k > 0 else None)
    # upper: the smallest u with P(B >= u) <= tail, i.e. P(B <= u - 1) >= 1 - tail
    above = ks[cdf >= 1.0 - tail]
    high = int(above[0]) + 1 if above.size else None
    if low is not None and low < 1:
        low = None
    if high is not None and high > n:
        high = None
    return low, high


def percentile_interval(sorted_values: Sequence[float], pct: float,
                        confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Distribution-free interval for the true `pct` percentile (pct in (0, 100])."""
    low_rank, high_rank = quantile_ranks(len(sorted_values), pct / 100.0, confidence)
    low = None if low_rank is None else float(sorted_values[low_rank - 1])
    high = None if high_rank is None else float(sorted_values[high_rank - 1])
    return Interval(low=low, high=high, confidence=confidence, method="order-statistics")


def percentile_intervals(samples: np.ndarray, pct: float,
                         confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised percentile_interval over rows of `samples` (runs x n): (low, high) arrays.

    An open side is -inf / +inf. For simulations and pooled attempts.
    """
    rows = np.sort(np.asarray(samples, dtype=float), axis=-1)
    n = rows.shape[-1]
    low_rank, high_rank = quantile_ranks(n, pct / 100.0, confidence)
    shape = rows.shape[:-1]
    low = rows[..., low_rank - 1] if low_rank is not None else np.full(shape, -np.inf)
    high = rows[..., high_rank - 1] if high_rank is not None else np.full(shape, np.inf)
    return low, high


def clopper_pearson(k: int | np.ndarray, n: int | np.ndarray,
                    confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval for k successes of n (vectorised); n == 0 gives (0, 1)."""
    confidence = _check_confidence(confidence)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    tail = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k <= 0, 0.0, special.betaincinv(k, n - k + 1, tail))
        high = np.where(k >= n, 1.0, special.betaincinv(k + 1, n - k, 1.0 - tail))
    return low, high


def wilson(k: int | np.ndarray, n: int | np.ndarray,
           confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes of n (vectorised); n == 0 gives (0, 1)."""
    confidence = _check_confidence(confidence)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = special.ndtri(1.0 - (1.0 - confidence) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    # exact at the edges (rounding can leave 1e-17 instead of 0)
    low = np.where(k <= 0, 0.0, low)
    high = np.where(k >= n, 1.0, high)
    return low, high


RATIO_METHODS = {"clopper-pearson": clopper_pearson, "wilson": wilson}


def ratio_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE,
                   method: str = "clopper-pearson") -> Interval:
    """Interval for the true ratio behind k of n (n > 0)."""
    if n <= 0:
        raise ValueError(f"expected at least one trial, got n={n}")
    if not 0 <= k <= n:
        raise ValueError(f"expected 0 <= k <= n, got k={k}, n={n}")
    low, high = RATIO_METHODS[method](k, n, confidence)
    return Interval(low=float(low), high=float(high), confidence=confidence, method=method)


def outcome(op: str, bound: float, interval: Interval | None, passed: bool) -> Outcome:
    """pass / fail when the whole interval lies on one side of the bound, else inconclusive.

    Without an interval (counts, times, `==`/`!=` checks) the outcome is the point
    verdict `passed`: they are judged as measured.
    """
    if interval is None or op not in ("<", "<=", ">", ">="):
        return PASS if passed else FAIL
    low = -math.inf if interval.low is None else interval.low
    high = math.inf if interval.high is None else interval.high
    if op in ("<", "<="):
        surely_in = high < bound if op == "<" else high <= bound
        surely_out = low >= bound if op == "<" else low > bound
    else:
        surely_in = low > bound if op == ">" else low >= bound
        surely_out = high <= bound if op == ">" else high < bound
    if surely_in:
        return PASS
    if surely_out:
        return FAIL
    return INCONCLUSIVE


def outcomes(op: str, bound: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Vectorised `outcome` over interval arrays (open sides as -inf / +inf): str array."""
    if op in ("<", "<="):
        surely_in = high < bound if op == "<" else high <= bound
        surely_out = low >= bound if op == "<" else low > bound
    elif op in (">", ">="):
        surely_in = low > bound if op == ">" else low >= bound
        surely_out = high <= bound if op == ">" else high < bound
    else:
        raise ValueError(f"expected an inequality (<, <=, >, >=), got {op!r}")
    return np.where(surely_in, PASS, np.where(surely_out, FAIL, INCONCLUSIVE))


def parse_confidence(value: float | str) -> float:
    """0.95 or "95%" -> 0.95 (the scenario's `confidence` key); ValueError otherwise."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return _check_confidence(float(value.strip().removesuffix("%")) / 100.0)
    return _check_confidence(float(value))
