"""One seed, named random streams: every random choice of a run comes from here.

The run's seed has one source, the scenario's `seed` (`--seed N` is the override
`seed=N`). Each consumer takes its own stream by a declared name, so adding a
draw to one consumer never shifts another's: the same seed replays the chaos
plan, the load schedule, the bodies, the retries' jitter, the workloads and the
built-in app's replicas. A process that gets the seed in its config (the load
process, a Serve replica) derives its streams here too.

Standard library only: the Locust process and Serve replicas import it.
"""

from __future__ import annotations

import hashlib
import random

# name (a str.format template over its parts) -> who draws from it. Names are the
# keys under the seed: renaming one changes that consumer's values for every seed.
STREAMS: dict[str, str] = {
    "chaos": "chaos plan: shot times, node choices, run-time target picks (chaos/plan.py)",
    "chaos-network": "network fault proxy: latency jitter (chaos/proxy.py)",
    "load.shape.noise": "sine shape's gaussian noise (locustfiles/schedule.py)",
    "load.arrivals": "open model: arrival offsets (locustfiles/schedule.py)",
    "load.requests": "open model: which request each send makes, one draw per send",
    "load.picks.{worker}": "closed model: which request each user's call makes, per load process",
    "load.retry.{worker}": "retries' backoff jitter, per load process (locustfiles/policy.py)",
    "load.bodies.{worker}": "body template fields, per load process (locustfiles/request_mix.py)",
    "workload.{name}": "a workload's seed (tasks: the leaf values; script: HARNESS_WORKLOAD_SEED)",
    "app.replica.{app}.{deployment}.{rank}": "built-in app: one replica's latency and error draws",
}


class UndeclaredStream(KeyError):
    """A consumer asked for a stream not in STREAMS."""


def _key(seed: int, name: str, parts: dict[str, object]) -> int:
    if name not in STREAMS:
        raise UndeclaredStream(f"random stream {name!r} is not declared in harness.seed.STREAMS")
    digest = hashlib.sha256(f"{int(seed)}:{name.format(**parts)}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def derive(seed: int, name: str, /, **parts: object) -> int:
    """A 64-bit seed for the stream `name` (for a subprocess or a library that wants an int)."""
    return _key(seed, name, parts)


def stream(seed: int, name: str, /, **parts: object) -> random.Random:
    """The independent random stream `name` of the run seeded `seed`."""
    return random.Random(_key(seed, name, parts))
