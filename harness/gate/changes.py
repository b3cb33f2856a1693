"""Change points in a metric's history: where a scenario's p50 or ok rate moved and stayed.

The method, in the spirit of Apache Otava (Hunter) and MongoDB's E-Divisive means, kept
small enough to read:

1. Over a series (one value per run, oldest first), every split point k with at least
   `min_size` runs on each side gets the difference of the two sides' means, weighted
   by sqrt(n_left * n_right / n) (a CUSUM statistic).
2. The largest is significant when a permutation test says so: the same maximum
   over `permutations` seeded shuffles of the series (which break any change) reaches it
   in at most a share `alpha` of them. Taking the maximum over the splits in the shuffles
   too is what makes the p-value honest about having searched for the best split.
3. A significant split is a change point; both sides are searched again (binary
   segmentation) until no side holds a significant split.

Exchangeability is the null: a slow drift over many nights shows up as one or more
change points near its steepest part. Pure numpy; seeded, so a history gives the same
answer every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_SIZE = 3
PERMUTATIONS = 199
ALPHA = 0.01


@dataclass(frozen=True, kw_only=True)
class ChangePoint:
    index: int  # the first run of the new level (0 = the oldest run in the series)
    before: float  # mean of the segment before
    after: float  # mean of the segment from `index` on
    change_pct: float
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _max_stat(series: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Over rows of `series` (..., n): the largest split statistic and its split.

    The statistic is the difference of the two sides' means weighted by
    sqrt(n_left * n_right / n) (CUSUM): the two-sample z with the series' own spread,
    which a shuffle does not change, so small sides cannot fake a large value the way
    a t statistic with a three-run variance can.
    """
    n = series.shape[-1]
    ks = np.arange(min_size, n - min_size + 1)
    csum = np.cumsum(series, axis=-1)
    left_sum = csum[..., ks - 1]
    right_sum = csum[..., -1:] - left_sum
    stat = np.abs(right_sum / (n - ks) - left_sum / ks) * np.sqrt(ks * (n - ks) / n)
    best = np.argmax(stat, axis=-1)
    return np.take_along_axis(stat, best[..., None], axis=-1)[..., 0], ks[best]


def _split(values: np.ndarray, offset: int, rng: np.random.Generator, min_size: int,
           permutations: int, alpha: float, found: list[ChangePoint]) -> None:
    n = len(values)
    if n < 2 * min_size:
        return
    t, k = _max_stat(values, min_size)
    if t == 0:  # a flat series
        return
    shuffled = np.array([rng.permutation(values) for _ in range(permutations)])
    null_t, _ = _max_stat(shuffled, min_size)
    p = (1 + int((null_t >= t).sum())) / (1 + permutations)
    if p > alpha:
        return
    k = int(k)
    before, after = float(values[:k].mean()), float(values[k:].mean())
    change = (after - before) / abs(before) * 100.0 if before else float("inf")
    found.append(ChangePoint(index=offset + k, before=round(before, 6), after=round(after, 6), change_pct=round(change, 3), p_value=round(p, 4)))
    _split(values[:k], offset, rng, min_size, permutations, alpha, found)
    _split(values[k:], offset + k, rng, min_size, permutations, alpha, found)


def change_points(values: Sequence[float], *, min_size: int = MIN_SIZE, permutations: int = PERMUTATIONS,
                  alpha: float = ALPHA, seed: int = 0) -> list[ChangePoint]:
    """Change points of a series (oldest first), in order."""
    series = np.asarray(values, dtype=float)
    found: list[ChangePoint] = []
    _split(series, 0, np.random.default_rng(seed), min_size, permutations, alpha, found)
    return sorted(found, key=lambda c: c.index)
