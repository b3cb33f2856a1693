"""The harness's Locust user: one record per request attempt into the run's timeline.

Configured through the JSON file named by HARNESS_LOAD_CONFIG (written by
harness.load), so the locust command line stays plain.
"""

from __future__ import annotations

import json
import os
import time

from locust import FastHttpUser, constant, events, task

from locustfiles.records import RecordWriter

CONFIG = json.loads(open(os.environ["HARNESS_LOAD_CONFIG"], encoding="utf-8").read())
WRITER = RecordWriter(CONFIG["requests_out"])
SHED_STATUS = 503


def classify(status: int, error: str | None) -> str:
    if error is not None and status == 0:
        return "timeout" if "timeout" in error.lower() or "timed out" in error.lower() else "conn_error"
    if status == SHED_STATUS:
        return "shed"
    if 200 <= status < 400:
        return "ok"
    return "error"


@events.test_start.add_listener
def _on_start(environment, **_kwargs):
    WRITER.write({"t": time.time(), "kind": "phase", "name": "load", "edge": "start", "source": "load"})


@events.quitting.add_listener
def _on_quit(environment, **_kwargs):
    WRITER.write({"t": time.time(), "kind": "phase", "name": "load", "edge": "end", "source": "load"})
    WRITER.close()


class HarnessUser(FastHttpUser):
    wait_time = constant(CONFIG.get("wait_ms", 0) / 1000.0)
    network_timeout = CONFIG.get("request_timeout_s", 10.0)
    connection_timeout = CONFIG.get("request_timeout_s", 10.0)
    _counter = 0

    @task
    def call(self) -> None:
        HarnessUser._counter += 1
        request_id = HarnessUser._counter
        sent = time.time()
        t0 = time.perf_counter()
        status, size, error = 0, 0, None
        with self.client.request(
            CONFIG.get("method", "GET"), CONFIG.get("path", "/"), catch_response=True
        ) as response:
            status = response.status_code or 0
            size = len(response.content or b"")
            exception = response.request_meta.get("exception")
            if exception is not None:
                error = f"{type(exception).__name__}: {exception}"[:200]
            outcome = classify(status, error)
            if outcome == "ok":
                response.success()
            else:
                response.failure(error or f"HTTP {status}")
        latency_ms = (time.perf_counter() - t0) * 1000.0
        record = {
            "t": sent,
            "kind": "request",
            "id": request_id,
            "latency_ms": round(latency_ms, 3),
            "status": status,
            "outcome": outcome,
            "bytes": size,
            "attempt": 1,
            "final": True,
        }
        if error is not None:
            record["error"] = error
        WRITER.write(record)
