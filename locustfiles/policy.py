"""How a production client judges an answer and when it tries again (pure: no gevent).

503 is Serve's answer when a deployment's queue is full (max_queued_requests):
it is `shed`, kept apart from errors, and retried only if 503 is in on_status.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SHED_STATUS = 503  # Serve's answer when max_queued_requests is exceeded


def classify(status: int, error: str | None) -> str:
    """ok | shed | error | timeout | conn_error."""
    if status == 0:
        text = (error or "").lower()
        return "timeout" if "timeout" in text or "timed out" in text else "conn_error"
    if status == SHED_STATUS:
        return "shed"
    if 200 <= status < 400:
        return "ok"
    return "error"


@dataclass(kw_only=True)
class RetryPolicy:
    attempts: int = 1
    on_status: frozenset[int] = frozenset({500, 502, 503, 504})
    on_conn_error: bool = True
    on_timeout: bool = True
    backoff_ms: float = 50
    multiplier: float = 2
    max_backoff_ms: float = 2000
    jitter: float = 0.2

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(**{**data, "on_status": frozenset(data.get("on_status", ()))})

    def should_retry(self, attempt: int, status: int, outcome: str) -> bool:
        if attempt >= self.attempts:
            return False
        if outcome == "timeout":
            return self.on_timeout
        if outcome == "conn_error":
            return self.on_conn_error
        return status in self.on_status

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Pause after attempt `attempt` (1-based). Hand-rolled: jitter must come from the run's seed."""
        base = min(self.max_backoff_ms, self.backoff_ms * self.multiplier ** (attempt - 1))
        return base * (1.0 - self.jitter * rng.random()) / 1000.0
