"""The built-in Serve app under test, with knobs for what a release test varies.

Knobs (see harness.model.scenario.BuiltinAppSpec): service latency (fixed or drawn from a
distribution), CPU work per request, error rate, payload size, replica start-up delay
and a memory leak (KB each replica keeps per request: the seeded-regression set's
leaking build). Each replica draws from its own stream of the run's seed
(harness.seed, `app.replica.<app>.<deployment>.<rank>`), keyed by the replica's
rank: Serve numbers a deployment's replicas 0..N-1 and a replacement takes the
lowest free rank, so replica k of a replay draws what replica k drew (which
request reaches which replica is still Serve's routing, not the seed's).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from harness.seed import stream


def replica_stream(run_seed: int, app: str, deployment: str, rank: int | str) -> random.Random:
    return stream(run_seed, "app.replica.{app}.{deployment}.{rank}", app=app, deployment=deployment, rank=rank)


def _replica_identity() -> tuple[str, str, int | str]:
    """(app, deployment, rank) of the running replica; ("", "", 0) outside Serve (unit tests)."""
    try:
        context = serve.get_replica_context()
    except Exception:
        return "", "", 0
    rank = getattr(context, "rank", None)  # a ReplicaRank in recent Ray (2.60 here)
    if rank is None:  # an older Ray has no stable number: the random id (not replayable)
        return context.app_name, context.deployment, context.replica_tag
    return context.app_name, context.deployment, rank.rank


def sample_latency_ms(rng: random.Random, latency: dict[str, Any]) -> float:
    kind = latency.get("distribution", "fixed")
    ms = float(latency.get("ms", 0))
    if kind == "fixed":
        return ms
    if kind == "uniform":
        return rng.uniform(ms, float(latency.get("max_ms", ms)))
    if kind == "exponential":
        return rng.expovariate(1.0 / ms) if ms > 0 else 0.0
    if kind == "lognormal":
        import math

        return ms * math.exp(rng.gauss(0.0, float(latency.get("sigma", 0.5))))
    raise ValueError(f"unknown latency distribution {kind!r}")


def burn_cpu(ms: float) -> None:
    """Spin on the CPU for `ms` milliseconds of wall time."""
    end = time.perf_counter() + ms / 1000.0
    x = 0
    while time.perf_counter() < end:
        x += 1


@serve.deployment(name="Echo")
class Echo:
    def __init__(self, knobs: dict[str, Any]):
        self.knobs = knobs
        delay = float(knobs.get("startup_delay_s", 0))
        if delay:
            time.sleep(delay)
        self.rng = replica_stream(int(knobs.get("seed", 0)), *_replica_identity())
        self.payload = b"x" * int(knobs.get("payload_bytes", 64))
        self.latency = knobs.get("latency", {})
        self.cpu_work_ms = float(knobs.get("cpu_work_ms", 0))
        self.error_rate = float(knobs.get("error_rate", 0))
        self.leak = b"\x01" * int(float(knobs.get("leak_kb_per_request", 0)) * 1024)
        self.kept: list[bytearray] = []  # the leak: never freed while the replica lives

    async def __call__(self, request: Request) -> Response:
        if self.leak:  # a copy, so every request holds pages of its own (resident: written)
            self.kept.append(bytearray(self.leak))
        if self.cpu_work_ms:
            burn_cpu(self.cpu_work_ms)
        delay_ms = sample_latency_ms(self.rng, self.latency)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)
        if self.error_rate and self.rng.random() < self.error_rate:
            return Response(b"injected error", status_code=500)
        return Response(self.payload, media_type="application/octet-stream")


def build_app(args: dict[str, Any]) -> serve.Application:
    """Application builder, as `serve run` and Serve config files call it."""
    return Echo.bind(dict(args))


def build_with_options(args: dict[str, Any], options: dict[str, Any]) -> serve.Application:
    """build_app's app with a Serve config's options for its deployment applied in code, as
    `serve run` of an app whose code sets them (harness.app.deploy.deploy_from_driver)."""
    return Echo.options(**options).bind(dict(args))
