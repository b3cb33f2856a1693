"""A client that behaves like a production one: per-request timeout, retries with backoff.

Every attempt becomes one `request` record; all attempts of one request share `t`,
the request's intended send time, so they fall in the same window. `latency_ms`
runs from `t` to the end of that attempt (what the caller has waited so far: for
the final attempt, what it experienced), `attempt_ms` covers that attempt alone.
Runs in the load process only (gevent).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent

from harness.measure.records import Request as RequestRecord
from locustfiles.policy import RetryPolicy, classify
from locustfiles.request_mix import MixRequest, RequestMix
from locustfiles.stream_writer import RecordWriter


@dataclass
class LoadTally:
    """What one load process did, for its closing `load_report` record."""

    requests: int = 0
    attempts: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class Caller:
    """Sends one logical request through a Locust HTTP session, retrying per the policy."""

    writer: RecordWriter
    policy: RetryPolicy
    mix: RequestMix
    rng: random.Random  # retry jitter
    tally: LoadTally
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"worker": 2}
    body_rng: random.Random = field(default_factory=random.Random)  # body templates (seeded by the caller)
    pick_rng: random.Random = field(default_factory=random.Random)  # closed model: which request (seeded too)
    default_timeout_s: float = 10.0  # the client's own; a request asking for less gets a timer

    def call(
        self, session: Any, request_id: int, intended_wall: float, intended_perf: float, scheduled: bool = False,
        request: MixRequest | None = None,
    ) -> str:
        """Run every attempt of one request; returns the final outcome.

        `scheduled` (open model): the send had an intended time, so its lag is recorded.
        `request`: which request of the mix (drawn by the caller); unset, one is drawn here.
        """
        request = request or self.mix.pick(self.pick_rng.random())
        body = request.body_for(self.body_rng)  # every attempt resends the same body
        self.tally.requests += 1
        attempt = 0
        lag = {"lag_ms": round((time.perf_counter() - intended_perf) * 1000.0, 3)} if scheduled else {}
        while True:
            attempt += 1
            self.tally.attempts += 1
            started = time.perf_counter()
            status, size, error = self._send(session, request, body)
            ended = time.perf_counter()
            outcome = classify(status, error)
            expected = request.outcome_ok(status) if status else None
            if expected is not None:  # the request names its status: that one is ok, others are errors
                outcome = "ok" if expected else ("shed" if outcome == "shed" else "error")
                error = None if expected else error or f"expected status {sorted(request.expect)}, got {status}"
            final = not self.policy.should_retry(attempt, status, outcome)
            record = RequestRecord.new(
                t=intended_wall,
                id=request_id,
                name=request.name,
                latency_ms=round((ended - intended_perf) * 1000.0, 3),
                attempt_ms=round((ended - started) * 1000.0, 3),
                **lag,
                status=status,
                outcome=outcome,
                bytes=size,
                attempt=attempt,
                final=final,
                **self.extra,
                **({} if error is None else {RequestRecord.error: error}),
            )
            self.writer.write(record)
            if final:
                self.tally.by_outcome[outcome] = self.tally.by_outcome.get(outcome, 0) + 1
                return outcome
            gevent.sleep(self.policy.backoff_s(attempt, self.rng))

    def pick(self, u: float) -> MixRequest:
        """The request a send with uniform draw `u` makes (the open model draws u from the seed)."""
        return self.mix.pick(u)

    def _send(self, session: Any, request: MixRequest, body: bytes | None) -> tuple[int, int, str | None]:
        # No catch_response block: Locust counts non-2xx as failures itself, and the
        # context manager costs throughput.
        if request.timeout_s < self.default_timeout_s:
            try:
                with gevent.Timeout(request.timeout_s):
                    response = session.request(request.method, request.path, name=request.name, data=body,
                                               headers=request.headers)
            except gevent.Timeout:
                return 0, 0, f"Timeout: no answer within {request.timeout_s:g}s"
        else:
            response = session.request(request.method, request.path, name=request.name, data=body,
                                       headers=request.headers)
        status = response.status_code or 0
        failure = getattr(response, "error", None)
        error = None if failure is None else f"{type(failure).__name__}: {failure}"[:200]
        size = len(response.content or b"") if status else 0
        return status, size, error
