"""Mann-Whitney U and the Hodges-Lehmann shift, exact and vectorised (pure functions).

The regression check's statistics. Samples are small (one value per run: a dozen
baseline runs, a few candidate runs), so the null distribution of U is computed
exactly (the Gaussian binomial coefficient, by dynamic programming) rather than
approximated; functions take arrays with leading batch dimensions so that the unit
tests' simulations of thousands of gates run the same code in one call.

U counts the (baseline, candidate) pairs where the candidate is larger, ties as 1/2.
The one-sided p-value is P(U_null >= floor(U)) under exchangeability (no shift): taking
the floor makes a tied U conservative. The Hodges-Lehmann shift is the median of the
pairwise differences candidate - baseline; its distribution-free interval (Moses) is
the k-th smallest and k-th largest difference, k read from the same exact distribution.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=256)
def u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, m) orderings give U = 0, 1, ..., n*m (no ties)."""
    if n < 0 or m < 0:
        raise ValueError("sample sizes must not be negative")
    # f(i, j) = q^i f(i, j-1) + f(i-1, j): the largest value is a candidate (beating
    # all i baseline values) or a baseline value (beating no candidate).
    rows = [[np.ones(1, dtype=object)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            poly = np.zeros(i * j + 1, dtype=object)
            with_candidate = rows[i][j - 1]
            poly[i:i + len(with_candidate)] += with_candidate
            with_baseline = rows[i - 1][j]
            poly[: len(with_baseline)] += with_baseline
            rows[i][j] = poly
    return tuple(int(c) for c in rows[n][m])


@lru_cache(maxsize=256)
def u_upper_tail(n: int, m: int) -> np.ndarray:
    """P(U_null >= u) for u = 0 .. n*m."""
    counts = u_counts(n, m)
    total = math.comb(n + m, m)
    tail = np.cumsum(np.array(counts[::-1], dtype=float))[::-1]
    return tail / total


def min_p_value(n: int, m: int) -> float:
    """The smallest one-sided p-value n baseline and m candidate values can give."""
    return 1.0 / math.comb(n + m, m)


def u_statistic(baseline: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """U over the last axis: (..., n) and (..., m) -> (...)."""
    b = np.asarray(baseline, dtype=float)[..., :, None]
    c = np.asarray(candidate, dtype=float)[..., None, :]
    return (c > b).sum(axis=(-2, -1)) + 0.5 * (c == b).sum(axis=(-2, -1))


def p_greater(baseline: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """One-sided exact p-value that candidate values tend to be larger than baseline ones."""
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    n, m = b.shape[-1], c.shape[-1]
    u = np.floor(u_statistic(b, c)).astype(int)
    return u_upper_tail(n, m)[u]


def moses_rank(n: int, m: int, confidence: float) -> int | None:
    """k such that [d_(k), d_(nm+1-k)] covers the true shift at `confidence` (two-sided);
    None when n and m are too few for any interval at that confidence."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected a confidence in (0, 1), got {confidence}")
    tail = (1.0 - confidence) / 2.0
    lower_cdf = u_upper_tail(n, m)[::-1]  # symmetric: P(U <= u) = P(U >= nm - u)
    # the largest k with P(U <= k - 1) <= tail
    ok = np.nonzero(lower_cdf <= tail + 1e-12)[0]
    return int(ok[-1]) + 1 if ok.size else None


def hodges_lehmann(baseline: np.ndarray, candidate: np.ndarray,
                   confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shift, low, high) of candidate - baseline over the last axis; an interval side the
    samples cannot bound is -inf / +inf."""
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    n, m = b.shape[-1], c.shape[-1]
    diffs = (c[..., None, :] - b[..., :, None]).reshape(*np.broadcast_shapes(b.shape[:-1], c.shape[:-1]), n * m)
    diffs = np.sort(diffs, axis=-1)
    shift = np.median(diffs, axis=-1)
    k = moses_rank(n, m, confidence)
    if k is None:
        shape = shift.shape
        return shift, np.full(shape, -np.inf), np.full(shape, np.inf)
    return shift, diffs[..., k - 1], diffs[..., n * m - k]


def look_alphas(n: int, max_runs: int, alpha: float) -> dict[int, float]:
    """Each look's share of alpha (candidate runs -> alpha), for n baseline runs: alpha
    split over the looks that can reach significance; looks that cannot get 0."""
    feasible = [m for m in range(1, max_runs + 1) if min_p_value(n, m) <= alpha]
    while feasible:
        share = alpha / len(feasible)
        kept = [m for m in feasible if min_p_value(n, m) <= share]
        if kept == feasible:
            return {m: (share if m in feasible else 0.0) for m in range(1, max_runs + 1)}
        feasible = kept
    return {m: 0.0 for m in range(1, max_runs + 1)}


def min_rank_baseline(max_runs: int, alpha: float) -> int:
    """The fewest baseline runs at which a rank check can block within max_runs."""
    n = 1
    while not any(look_alphas(n, max_runs, alpha).values()):
        n += 1
    return n
