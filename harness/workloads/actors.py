"""Restartable actors that must not lose an acknowledged message (at least once).

`num_actors` relay actors (restartable, spread over the nodes) each pass numbered
messages to a ledger actor pinned to the head node, which a worker-node fault does
not touch. A message is acknowledged when the relay's call returned; at the end,
every acknowledged message must be in the ledger. Calls that fail are counted
(`failed_calls`) but lose nothing: they were never acknowledged.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from harness.model.context import RunContext
from harness.model.scenario import ActorsWorkloadSpec
from harness.workloads.base import Workload


def actor_classes() -> tuple[Any, Any]:
    """The two actor classes, built in a closure so workers need not import the harness."""
    import ray

    @ray.remote(num_cpus=0)
    class MessageLedger:
        def __init__(self) -> None:
            self.seen: dict[int, set[int]] = {}

        def record(self, relay: int, seq: int) -> bool:
            self.seen.setdefault(relay, set()).add(seq)
            return True

        def all_seen(self) -> dict[int, list[int]]:
            return {relay: sorted(seqs) for relay, seqs in self.seen.items()}

    @ray.remote
    class Relay:
        # The ledger is looked up by name: a handle among the constructor arguments
        # would live in the object store, and a restart needs them.
        def __init__(self, ledger_name: str, index: int) -> None:
            self.ledger, self.index = ray.get_actor(ledger_name), index

        def send(self, seq: int) -> int:
            ray.get(self.ledger.record.remote(self.index, seq))
            return seq

    return MessageLedger, Relay


def lost_messages(acked: dict[int, set[int]], seen: dict[int, list[int]]) -> dict[int, list[int]]:
    """Acknowledged messages missing from the ledger, per relay."""
    lost = {}
    for relay, seqs in acked.items():
        missing = sorted(seqs - set(seen.get(relay, [])))
        if missing:
            lost[relay] = missing
    return lost


class ActorsWorkload(Workload):
    def __init__(self, spec: ActorsWorkloadSpec, default_spread_s: float):
        super().__init__(spec.name, spec.timeout_s)
        self.spec = spec
        self.spread_s = spec.spread_s or default_spread_s
        self.acked: dict[int, set[int]] = {i: set() for i in range(spec.num_actors)}
        self.errors: Counter[str] = Counter()
        self.failed_calls = 0
        self._actors: list[Any] = []

    def partial(self) -> dict[str, Any]:
        return {"workload": "actors", "acknowledged": sum(len(s) for s in self.acked.values()),
                "failed_calls": self.failed_calls, "errors": dict(self.errors)}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.connected_ray()
        spec = self.spec
        ledger_cls, relay_cls = actor_classes()
        head = ctx.cluster.head if ctx.cluster is not None else None
        ledger_opts = {} if head is None else {
            "scheduling_strategy": NodeAffinitySchedulingStrategy(head.node_id, soft=False)
        }
        ledger_name = f"harness-ledger-{ctx.run_id}-{spec.name}"
        ledger = ledger_cls.options(name=ledger_name, **ledger_opts).remote()
        ray.get(ledger.all_seen.remote(), timeout=max(1.0, self.time_left()))  # up before relays look it up
        relays = [
            relay_cls.options(
                num_cpus=spec.num_cpus, resources=dict(spec.resources) or None,
                max_restarts=spec.max_restarts, max_task_retries=spec.max_task_retries,
                scheduling_strategy="SPREAD",
            ).remote(ledger_name, i)
            for i in range(spec.num_actors)
        ]
        self._actors = [ledger, *relays]
        started = time.monotonic()
        interval = self.spread_s / spec.messages
        for seq in range(spec.messages):
            if self.should_stop():
                break
            calls = {relay.send.remote(seq): index for index, relay in enumerate(relays)}
            wait_s = max(0.0, min(spec.call_timeout_s, self.time_left()))
            ready, not_ready = ray.wait(list(calls), num_returns=len(calls), timeout=wait_s)
            for ref in ready:
                try:
                    if ray.get(ref, timeout=0) == seq:
                        self.acked[calls[ref]].add(seq)
                except Exception as exc:  # not acknowledged: counted, not lost
                    self.failed_calls += 1
                    self.errors[type(exc).__name__] += 1
            if not_ready:
                self.failed_calls += len(not_ready)
                self.errors["NoAnswer"] += len(not_ready)
            self.progress(acknowledged=sum(len(s) for s in self.acked.values()), failed_calls=self.failed_calls)
            time.sleep(max(0.0, started + (seq + 1) * interval - time.monotonic()))
        seen = ray.get(ledger.all_seen.remote(), timeout=max(5.0, self.time_left()))
        lost = lost_messages(self.acked, {int(k): v for k, v in seen.items()})
        fields = {**self.partial(), "lost": sum(len(v) for v in lost.values()),
                  "seconds": round(time.monotonic() - started, 3), "passed": not lost}
        if lost:
            fields["why"] = f"acknowledged messages missing from the ledger: {lost}"[:500]
        return fields

    def cleanup(self, ctx: RunContext) -> None:
        import ray

        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
