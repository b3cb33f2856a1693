"""Arrival schedules as pure functions of (shape, seed).

Stdlib only (no gevent, no locust; streams from harness.seed): the harness, the
load process and unit tests import it alike. A shape becomes a Profile
(harness.model.shape), a list of pieces on [0, duration) each with a level over
time (users in the closed model, requests per second in the open model) and an
optional window name. The open model's sends are the arrival times of a (possibly non-homogeneous) Poisson or
uniform process with that rate, drawn from the seed's `load.arrivals` stream: the
same seed and shape give the same sends, to the microsecond.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from harness.model.shape import Profile
from harness.seed import stream


def arrival_offsets(
    profile: Profile, process: str, seed: int, resolution_s: float = 0.01
) -> Iterator[float]:
    """Send times (seconds from the load's start) of the open model, in order.

    The rate is taken as constant over slots of `resolution_s` (split at piece edges,
    so step shapes are exact). Arrivals are where the integrated rate crosses the next
    mark: marks one apart give uniform spacing, Exp(1)-spaced marks a Poisson process.
    """
    if process not in ("poisson", "uniform"):
        raise ValueError(f"unknown arrival process {process!r}")
    rng = stream(seed, "load.arrivals")

    def gap() -> float:
        return rng.expovariate(1.0) if process == "poisson" else 1.0

    need = gap() if process == "poisson" else 0.0  # uniform: the first send at once
    for piece in profile.pieces:
        slots = max(1, math.ceil((piece.end - piece.start) / resolution_s - 1e-9))
        for i in range(slots):
            lo = piece.start + i * resolution_s
            hi = min(piece.end, lo + resolution_s)
            rate = max(0.0, piece.level((lo + hi) / 2))
            pos = lo
            while rate > 0:
                room = (hi - pos) * rate
                if need > room:
                    need -= room
                    break
                pos += need / rate
                yield pos
                need = gap()


def dump_schedule(offsets: Iterator[float], limit: int | None = None) -> list[float]:
    """Offsets rounded to the microsecond, for comparing schedules."""
    out = []
    for index, offset in enumerate(offsets):
        if limit is not None and index >= limit:
            break
        out.append(round(offset, 6))
    return out


def request_draws(seed: int) -> Iterator[float]:
    """One uniform draw per scheduled send, in schedule order, for which request it sends.

    The stream is the same in every load process of a run (a worker skips the sends
    of others as it skips their offsets), so a seed fixes the whole sequence.
    """
    rng = stream(seed, "load.requests")
    while True:
        yield rng.random()


def request_sequence(weights: list[float], seed: int, count: int) -> list[int]:
    """The indices of the first `count` requests sent (for tests and reproducibility checks)."""
    total = float(sum(weights))
    edges, acc = [], 0.0
    for weight in weights:
        acc += weight / total
        edges.append(acc)
    draws = request_draws(seed)
    return [min(bisect.bisect_right(edges, next(draws)), len(weights) - 1) for _ in range(count)]


@dataclass(frozen=True)
class WorkerStreams:
    """One load process's own streams (`worker` 0: a standalone process or the master)."""

    retry: random.Random  # retries' backoff jitter
    bodies: random.Random  # body template fields
    picks: random.Random  # closed model: which request a user's call makes


def worker_streams(seed: int, worker: int) -> WorkerStreams:
    return WorkerStreams(
        retry=stream(seed, "load.retry.{worker}", worker=worker),
        bodies=stream(seed, "load.bodies.{worker}", worker=worker),
        picks=stream(seed, "load.picks.{worker}", worker=worker),
    )
