"""The chaos schedule, planned whole before load starts: a pure function of scenario + seed.

Times are drawn per fault entry (fixed offsets, every N s with jitter, or Poisson),
each entry from its own stream split off the run's `chaos` stream, so adding an
entry does not move the others. Node targets are then chosen by simulating the
cluster forward in time: kills remove nodes, replacements add them back, the head
node is never a target and at least `keep_workers_alive` workers stay up. Targets
that only exist at run time (replicas, workers, proxies) get seeded draws instead,
applied to the candidates sorted by a stable key when the fault fires.

A shot that cannot fire (no node left to kill) stays in the plan as a `skip` with
its reason, and is recorded on the timeline as such: nothing is dropped in silence.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.scenario.config import ChaosSpec, FaultSpec, ScheduleSpec, TargetFilter


@dataclass(frozen=True)
class NodeInfo:
    name: str
    resources: dict[str, float]
    is_head: bool = False
    root: str = ""  # the node a replacement stands in for (its spec is reused)


@dataclass(frozen=True)
class Traits:
    target_kind: str
    kills_node: bool


@dataclass
class PlannedShot:
    id: str  # "fault-N" (the fault's window) or "replace-N"
    entry: int  # index in chaos.faults
    fault: str
    offset_s: float  # seconds after load start
    action: str  # "inject" | "skip" | "replace"
    nodes: list[str] = field(default_factory=list)
    picks: list[float] = field(default_factory=list)
    deployment: str | None = None
    reason: str = ""
    replaces: str | None = None  # replace: the killed node; new node name in nodes[0]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shot_times(schedule: ScheduleSpec, duration_s: float, rng: random.Random) -> list[float]:
    """Offsets in seconds after load start, sorted, all below the schedule's end."""
    end = schedule.end_s if schedule.end_s is not None else duration_s
    limit = schedule.count or 10_000
    times: list[float] = []
    if schedule.at_s is not None:
        times = sorted(t for t in schedule.at_s if schedule.start_s <= t < end)
    elif schedule.every_s is not None:
        k = 0
        while len(times) < limit:
            t = schedule.start_s + k * schedule.every_s + rng.uniform(0, schedule.jitter_s)
            if t >= end:
                break
            times.append(t)
            k += 1
    else:
        assert schedule.poisson_per_s is not None
        t = schedule.start_s
        while len(times) < limit:
            t += rng.expovariate(schedule.poisson_per_s)
            if t >= end:
                break
            times.append(t)
    return [round(t, 6) for t in times[:limit]]


def matches(node: NodeInfo, targets: TargetFilter) -> bool:
    if targets.nodes and node.name not in targets.nodes and node.root not in targets.nodes:
        return False
    return all(node.resources.get(k, 0) >= v for k, v in targets.resources.items())


def plan(
    spec: ChaosSpec,
    nodes: list[NodeInfo],
    duration_s: float,
    rng: random.Random,
    traits: dict[str, Traits],
) -> list[PlannedShot]:
    """The whole schedule, in firing order."""
    entry_rngs = [random.Random(rng.getrandbits(64)) for _ in spec.faults]
    target_rng = random.Random(rng.getrandbits(64))
    # (offset, order, entry index or -1 for a replacement, payload)
    queue: list[tuple[float, int, int, Any]] = []
    order = 0
    for index, entry in enumerate(spec.faults):
        for t in shot_times(entry.schedule, duration_s, entry_rngs[index]):
            queue.append((t, order, index, None))
            order += 1
    heapq.heapify(queue)

    alive = {n.name: n for n in nodes}
    killed = 0
    replacements = 0
    fault_no = 0
    shots: list[PlannedShot] = []
    while queue:
        t, _, index, payload = heapq.heappop(queue)
        if index < 0:  # a replacement node comes up
            replacements += 1
            dead: NodeInfo = payload
            root = dead.root or dead.name
            new = NodeInfo(f"{root}-r{replacements}", dead.resources, False, root)
            alive[new.name] = new
            shots.append(PlannedShot(f"replace-{replacements}", -1, "replace_node", t, "replace", [new.name], replaces=dead.name))
            continue
        entry = spec.faults[index]
        kind = traits[entry.fault]
        fault_no += 1
        shot = PlannedShot(f"fault-{fault_no}", index, entry.fault, t, "inject", deployment=entry.targets.deployment)
        if kind.target_kind == "node":
            chosen, reason = _choose_nodes(spec, entry, alive, killed, kind.kills_node, target_rng)
            if not chosen:
                shot.action, shot.reason = "skip", reason
            shot.nodes = [n.name for n in chosen]
            if kind.kills_node:
                killed += len(chosen)
                for node in chosen:
                    del alive[node.name]
                    if entry.replace_after_s is not None:
                        heapq.heappush(queue, (round(t + entry.replace_after_s, 6), order, -1, node))
                        order += 1
        elif kind.target_kind != "none":
            shot.picks = [round(target_rng.random(), 9) for _ in range(entry.batch_size)]
        shots.append(shot)
    return shots


def _choose_nodes(
    spec: ChaosSpec,
    entry: FaultSpec,
    alive: dict[str, NodeInfo],
    killed: int,
    kills: bool,
    rng: random.Random,
) -> tuple[list[NodeInfo], str]:
    if kills and spec.max_to_kill is not None and killed >= spec.max_to_kill:
        return [], f"max_to_kill={spec.max_to_kill} reached"
    workers = sorted((n for n in alive.values() if not n.is_head), key=lambda n: n.name)
    candidates = [n for n in workers if matches(n, entry.targets)]
    if not candidates:
        return [], "no live worker node matches the targets"
    allowed = entry.batch_size
    if kills:
        spare = len(workers) - spec.keep_workers_alive
        if spare <= 0:
            return [], f"keep_workers_alive={spec.keep_workers_alive}: {len(workers)} worker(s) left"
        allowed = min(allowed, spare)
        if spec.max_to_kill is not None:
            allowed = min(allowed, spec.max_to_kill - killed)
    chosen = rng.sample(candidates, min(allowed, len(candidates)))
    return sorted(chosen, key=lambda n: n.name), ""


def nodes_of_scenario(scenario: Any) -> list[NodeInfo]:
    """A local cluster's nodes as the scenario declares them (the first one is the head)."""
    return [
        NodeInfo(n.name, dict(n.resources, CPU=n.num_cpus, GPU=n.num_gpus), index == 0)
        for index, n in enumerate(scenario.cluster.nodes)
    ]
