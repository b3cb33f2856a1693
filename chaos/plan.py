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

The schedule rules live here too, for validation (`schedule_problems`): a schedule
that can never fire (every shot outside the run, or skipped by the plan itself on a
cluster the harness starts) is refused before anything starts, with the key path.
A shot beyond `chaos.max_to_kill` is `capped`: the scenario's own limit, not a miss.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.model.node_info import NodeInfo
from harness.model.scenario import ChaosSpec, FaultSpec, Scenario, ScheduleSpec, TargetFilter


@dataclass(frozen=True)
class Traits:
    target_kind: str
    kills_node: bool


@dataclass(kw_only=True)
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
    optional: bool = False  # the entry (a replacement: the killing entry) sets optional: true
    source: int | None = None  # replace: the entry whose kill it replaces
    capped: bool = False  # skipped because chaos.max_to_kill was reached: the scenario's limit

    def describe(self) -> str:
        """`fault-3 kill_raylet at 50.0 s` (a replacement: `replace-1 (w1) at 4.0 s`)."""
        what = f"replace_node for {self.replaces}" if self.action == "replace" else self.fault
        return f"{self.id} {what} at {self.offset_s:.1f} s"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shot_times(schedule: ScheduleSpec, duration_s: float, rng: random.Random) -> list[float]:
    """Offsets in seconds after load start, sorted, all below the schedule's end."""
    end = schedule.end(duration_s)
    limit = schedule.count or 10_000
    times: list[float] = []
    if schedule.at_s is not None:
        times = sorted(t for t in schedule.at_s if schedule.fires_at(t, duration_s))
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
            dead, optional, source = payload
            root = dead.root or dead.name
            new = NodeInfo(name=f"{root}-r{replacements}", resources=dead.resources, is_head=False, root=root)
            alive[new.name] = new
            shots.append(PlannedShot(id=f"replace-{replacements}", entry=-1, fault="replace_node", offset_s=t, action="replace", nodes=[new.name],
                                     replaces=dead.name, optional=optional, source=source))
            continue
        entry = spec.faults[index]
        kind = traits[entry.fault]
        fault_no += 1
        shot = PlannedShot(id=f"fault-{fault_no}", entry=index, fault=entry.fault, offset_s=t, action="inject", deployment=entry.targets.deployment,
                           optional=entry.optional)
        if kind.target_kind == "node":
            chosen, reason = _choose_nodes(spec, entry, alive, killed, kind.kills_node, target_rng)
            if not chosen:
                shot.action, shot.reason = "skip", reason
                shot.capped = reason == _capped_reason(spec)
            shot.nodes = [n.name for n in chosen]
            if kind.kills_node:
                killed += len(chosen)
                for node in chosen:
                    del alive[node.name]
                    if entry.replace_after_s is not None:
                        heapq.heappush(queue, (round(t + entry.replace_after_s, 6), order, -1, (node, entry.optional, index)))
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
        return [], _capped_reason(spec)
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


def _capped_reason(spec: ChaosSpec) -> str:
    return f"max_to_kill={spec.max_to_kill} reached"


def unplanned_entries(spec: ChaosSpec, shots: list[PlannedShot]) -> list[int]:
    """Entries of the chaos section with no shot in the plan (their schedule drew none)."""
    planned = {s.entry for s in shots}
    return [index for index in range(len(spec.faults)) if index not in planned]


def nodes_of_scenario(scenario: Any) -> list[NodeInfo]:
    """A local cluster's nodes as the scenario declares them (the first one is the head)."""
    return [
        NodeInfo(name=n.name, resources=dict(n.resources, CPU=n.num_cpus, GPU=n.num_gpus), is_head=index == 0)
        for index, n in enumerate(scenario.cluster.nodes)
    ]


# -- validation: schedules that can never fire ------------------------------


def run_horizon(scenario: Scenario) -> float | None:
    """Seconds after the schedule's origin until the run ends; None when only the run knows
    (a workload-only run lasts until its workloads end; the ResourceKiller's origin is a script's call)."""
    if scenario.workload_only or scenario.chaos.resource_killer:
        return None
    return scenario.duration_s + scenario.cooldown_s


def _end_words(schedule: ScheduleSpec, scenario: Scenario) -> str:
    if schedule.end_s is not None:
        return "its end_s"
    if scenario.workload_only:
        return f"duration_s {scenario.duration_s:g}, the schedule's horizon"
    return f"the load ends at duration_s {scenario.duration_s:g}"


def static_schedule_problems(scenario: Scenario, index: int) -> list[tuple[str, str]]:
    """One entry's schedule against the run's length, as (key path, what was expected)."""
    entry = scenario.chaos.faults[index]
    schedule, base = entry.schedule, f"chaos.faults.{index}.schedule"
    end = schedule.end(scenario.duration_s)
    problems = []
    horizon = run_horizon(scenario)
    if horizon is not None and schedule.end_s is not None and schedule.end_s > horizon:
        problems.append((f"{base}.end_s", (
            f"an end_s within the run (duration_s {scenario.duration_s:g} + cooldown_s {scenario.cooldown_s:g} = "
            f"{horizon:g} s after load start), got {schedule.end_s:g}: a shot after {horizon:g} s could never fire")))
    if schedule.start_s >= end:
        problems.append((f"{base}.start_s", (
            f"a start_s before the schedule's end ({end:g} s: {_end_words(schedule, scenario)}), "
            f"got {schedule.start_s:g}: {entry.fault!r} could never fire")))
    elif schedule.at_s is not None:
        outside = [t for t in schedule.at_s if not schedule.fires_at(t, scenario.duration_s)]
        if outside:
            since = f" and at or after start_s ({schedule.start_s:g}s)" if schedule.start_s > 0 else ""
            problems.append((f"{base}.at_s", (
                f"offsets below {end:g}s ({_end_words(schedule, scenario)}){since}, got {outside}: "
                "those shots could never fire")))
    return problems


def _no_shot_words(entry: FaultSpec, scenario: Scenario) -> str:
    schedule = entry.schedule
    end = schedule.end(scenario.duration_s)
    if schedule.at_s is not None:
        return "at_s lists no offset"
    if schedule.poisson_per_s is not None:
        return (f"with seed {scenario.seed}, Poisson {schedule.poisson_per_s:g}/s from {schedule.start_s:g} s "
                f"draws no shot before {end:g} s (raise poisson_per_s, or use at_s)")
    return (f"with seed {scenario.seed}, jitter_s {schedule.jitter_s:g} puts the first shot at or after "
            f"{end:g} s (lower jitter_s or start_s)")


def simulated_problems(scenario: Scenario, traits: dict[str, Traits], skip: set[int]) -> list[tuple[str, str]]:
    """Plan the run as it will be planned (same seed, the scenario's nodes) and refuse entries
    that plan no shot, and, on a cluster the harness starts, node shots the plan itself must skip."""
    spec = scenario.chaos
    fixed = bool(scenario.cluster.nodes) and scenario.cluster.address is None
    nodes = nodes_of_scenario(scenario) if fixed else []
    from harness.seed import stream  # the run's own `chaos` stream: the plan the run will make

    shots = plan(spec, nodes, scenario.duration_s, stream(scenario.seed, "chaos"), traits)
    problems: list[tuple[str, str]] = []
    kills = [f.fault for f in spec.faults if traits[f.fault].kills_node]
    if kills and spec.max_to_kill == 0:
        problems.append(("chaos.max_to_kill", (
            f"at least 1 with a node-killing fault ({', '.join(dict.fromkeys(kills))}), got 0: "
            "no node fault could ever fire")))
    for index, entry in enumerate(spec.faults):
        if index in skip:
            continue
        mine = [s for s in shots if s.entry == index]
        base = f"chaos.faults.{index}"
        if not mine:
            problems.append((f"{base}.schedule", f"a schedule that fires at least once: {_no_shot_words(entry, scenario)}"))
            continue
        if not fixed or traits[entry.fault].target_kind != "node":
            continue
        missed = [s for s in mine if s.action == "skip" and not s.capped]
        if missed:
            more = f" (and {len(missed) - 1} more of its {len(mine)} shots)" if len(missed) > 1 else ""
            problems.append((f"{base}.schedule", (
                f"every planned shot to have a target: {missed[0].describe()} could never fire "
                f"({missed[0].reason}){more}; add replace_after_s, a count, fewer shots or more worker nodes")))
        elif spec.max_to_kill and all(s.capped for s in mine) and mine:
            problems.append(("chaos.max_to_kill", (
                f"room for {entry.fault!r} (chaos.faults.{index}): all {len(mine)} of its shots come after "
                f"max_to_kill={spec.max_to_kill} node kills, so it could never fire")))
    horizon = run_horizon(scenario)
    late = [r for r in shots if r.action == "replace" and horizon is not None and r.offset_s >= horizon]
    for index in sorted({r.source for r in late if r.source is not None and r.source not in skip}):
        first = next(r for r in late if r.source == index)
        problems.append((f"chaos.faults.{index}.replace_after_s", (
            f"replacements due before the run ends ({horizon:g} s after load start: duration_s + cooldown_s): "
            f"{first.describe()} could never fire (lower replace_after_s or add cooldown_s)")))
    return problems
