"""The open model inside Locust: greenlets sending on a precomputed, seeded schedule.

Locust has no arrival-rate mode, so one dispatcher user per process walks the
schedule (locustfiles.schedule.arrival_offsets) and spawns one greenlet per send.
The send's latency counts from its intended time, so a slow server cannot slow the
sender down and hide its own slowness (no coordinated omission). A send that
cannot be made on time, because `max_in_flight` requests are outstanding or the
generator is more than `max_lag_ms` behind, is not made: it is recorded as a
`dropped` record, and too many of them make the run's load invalid.
With several workers, worker k of n takes every n-th send of the one schedule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.pool import Pool

from harness.measure.records import Dropped
from harness.model.shape import Profile
from locustfiles.client import Caller  # or a user class's TaskCaller: pick(u), call(...), extra
from locustfiles.schedule import arrival_offsets, request_draws
from locustfiles.stream_writer import RecordWriter

YIELD_EVERY = 64  # let response greenlets run even when the schedule is behind
# gevent's loop waits in epoll with millisecond resolution, so a timer fires up to 1 ms
# late; sleep until that much before the send and yield for the rest.
TIMER_SLACK_S = 0.001


@dataclass(kw_only=True)
class OpenLoopStats:
    scheduled: int = 0
    sent: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"late": 0, "in_flight": 0})
    max_lag_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(self.dropped),
            "max_lag_ms": round(self.max_lag_ms, 3),
        }


STOPPED_DRAIN_S = 0.5  # stopped early: answers in flight get this long


@dataclass(kw_only=True)
class OpenLoop:
    profile: Profile
    arrivals: str
    seed: int
    caller: Caller | Any
    writer: RecordWriter
    max_in_flight: int
    max_lag_s: float
    worker_index: int = 0  # 0-based share of the schedule
    workers: int = 1
    stats: OpenLoopStats = field(default_factory=OpenLoopStats)
    stopped: bool = False  # told to stop early: send nothing more, wait briefly for answers

    def run(self, session: Any, origin_wall: float, origin_perf: float, drain_s: float) -> None:
        """Send on schedule until the profile ends, then wait up to drain_s for answers."""
        pool = Pool(self.max_in_flight)
        stats = self.stats
        draws = request_draws(self.seed)  # which request each send makes: one draw per send, in order
        for index, offset in enumerate(arrival_offsets(self.profile, self.arrivals, self.seed)):
            if self.stopped:
                break
            draw = next(draws)
            if index % self.workers != self.worker_index:
                continue
            request = self.caller.pick(draw)
            stats.scheduled += 1
            due = origin_perf + offset
            delay = due - time.perf_counter()
            if delay > TIMER_SLACK_S:
                gevent.sleep(delay - TIMER_SLACK_S)
            elif delay <= 0 and stats.scheduled % YIELD_EVERY == 0:
                gevent.sleep(0)
            while time.perf_counter() < due:
                gevent.sleep(0)  # the last stretch by yielding: answers keep flowing meanwhile
            if self.stopped:
                break
            lag_s = time.perf_counter() - due
            stats.max_lag_ms = max(stats.max_lag_ms, lag_s * 1000.0)
            reason = "late" if lag_s > self.max_lag_s else "in_flight" if pool.full() else None
            if reason is not None:
                stats.dropped[reason] += 1
                self.writer.write(Dropped.new(
                    t=origin_wall + offset, id=index, reason=reason,
                    lag_ms=round(lag_s * 1000.0, 3), name=request.name, **self.caller.extra,
                ))
                continue
            stats.sent += 1
            pool.spawn(self.caller.call, session, index, origin_wall + offset, due, True, request)
        pool.join(timeout=STOPPED_DRAIN_S if self.stopped else drain_s)
