"""Fault classes by name, from the `harness.faults` entry-point group.

This project declares its built-in faults in that group (pyproject.toml); other
installed packages add theirs the same way. Only the faults a scenario names are
ever imported: what a run does must not depend on what happens to be installed.
A name declared twice (a plugin shadowing a built-in) is an error, never a silent
choice.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from pydantic import ValidationError

from chaos.api import Fault
from harness.hooks import hookimpl
from harness.model.errors import describe_validation_error

if TYPE_CHECKING:
    from harness.model.scenario import FaultSpec, Scenario

ENTRY_POINT_GROUP = "harness.faults"


class UnknownFault(LookupError):
    pass


def installed() -> dict[str, list[metadata.EntryPoint]]:
    """Declared faults by name (not loaded); more than one entry means a clash."""
    found: dict[str, dict[str, metadata.EntryPoint]] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, {}).setdefault(entry.value, entry)
    return {name: list(by_value.values()) for name, by_value in found.items()}


def known_names() -> list[str]:
    return sorted(installed())


def load(name: str) -> type[Fault]:
    """The fault class declared under `name`; raises UnknownFault with the reason."""
    entries = installed().get(name)
    if not entries:
        raise UnknownFault(f"a known fault ({', '.join(known_names())}), got {name!r}")
    if len(entries) > 1:
        owners = ", ".join(f"{_dist(e)} ({e.value})" for e in entries)
        raise UnknownFault(f"one fault named {name!r}, but it is declared by {owners}")
    try:
        cls = entries[0].load()
    except Exception as exc:  # a broken plugin is a config problem, named as such
        raise UnknownFault(f"an importable fault plugin: {entries[0].value} failed: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Fault)):
        raise UnknownFault(f"a chaos.api.Fault subclass for {name!r}, got {cls!r}")
    if cls.name != name:
        raise UnknownFault(f"{entries[0].value} to be named {name!r} (its name is {cls.name!r})")
    return cls


def _dist(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return dist.name if dist is not None else "?"


def load_named(names: list[str]) -> dict[str, type[Fault]]:
    return {name: load(name) for name in dict.fromkeys(names)}


@hookimpl
def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every chaos problem of a scenario as (key path, what was expected), before any start.

    A fault that could never fire is a problem too: a schedule outside the run
    (chaos.plan), a target the scenario cannot have, a fault whose own precondition
    the scenario lacks (`Fault.scenario_problems`, e.g. a cloud fault without
    cluster.autoscaling). What only the run can tell is judged by the implicit SLO
    `faults injected as planned` (harness.slo.implicit).
    """
    from chaos.plan import Traits, simulated_problems, static_schedule_problems

    spec = scenario.chaos
    if not spec.faults:
        return []
    problems: list[tuple[str, str]] = []
    existing = scenario.cluster.address is not None
    fixed = bool(scenario.cluster.nodes) and not existing
    workers = scenario.cluster.nodes[1:]
    names = {n.name for n in scenario.cluster.nodes}
    head = scenario.cluster.nodes[0].name if scenario.cluster.nodes else None
    deployments = app_deployments(scenario)
    traits: dict[str, Traits] = {}
    troubled: set[int] = set()
    for index, entry in enumerate(spec.faults):
        base = f"chaos.faults.{index}"
        before = len(problems)
        try:
            cls = load(entry.fault)
        except UnknownFault as exc:
            problems.append(_expected(f"{base}.fault", str(exc)))
            troubled.add(index)
            continue
        traits[entry.fault] = Traits(cls.target_kind, cls.kills_node)
        args = None
        try:
            args = cls.Args.model_validate(entry.args)
        except ValidationError as exc:
            problems += describe_validation_error(exc, (*base.split("."), "args"))
        if existing and cls.destructive and not spec.allow_destructive_on_existing:
            problems.append(_expected(
                f"{base}.fault",
                f"chaos.allow_destructive_on_existing: true to run the destructive fault "
                f"{entry.fault!r} against cluster.address (a cluster this run did not start)",
            ))
        if entry.replace_after_s is not None and not cls.kills_node:
            problems.append(_expected(f"{base}.replace_after_s", f"no replacement for {entry.fault!r}: it kills no node"))
        if entry.replace_after_s is not None and existing:
            problems.append(_expected(f"{base}.replace_after_s", "no replacement on cluster.address: nodes can only be added to a local cluster"))
        problems += [(key, f"expected {what}") for key, what in static_schedule_problems(scenario, index)]
        problems += _ignored_targets(entry, cls, base)
        if fixed and cls.target_kind == "node":
            problems += _node_target_problems(scenario, entry, cls, base, workers, names, head)
        elif scenario.cluster.autoscaling is not None and cls.target_kind == "node":
            problems.append(_expected(f"{base}.fault", (
                f"a fault that needs no planned node on cluster.autoscaling: {entry.fault!r} targets nodes the "
                "plan picks from cluster.nodes, and an autoscaling cluster has none, so it could never fire")))
        dep = entry.targets.deployment
        if dep is not None and cls.target_kind == "replica" and deployments is not None and dep not in deployments:
            listed = ", ".join(sorted(deployments)) or "none listed"
            problems.append(_expected(f"{base}.targets.deployment", f"a deployment of the app ({listed}), got {dep!r}"))
        if args is not None:
            problems += [(key, f"expected {what}") for key, what in cls.scenario_problems(scenario, entry, args, base)]
        if len(problems) > before:
            troubled.add(index)
    if len(traits) == len({f.fault for f in spec.faults}):  # every fault loaded: plan as the run will
        problems += [(key, f"expected {what}") for key, what in simulated_problems(scenario, traits, troubled)]
    return problems


def app_deployments(scenario: Scenario) -> set[str] | None:
    """Deployments a replica fault may name (`Name` of the first app, or `App/Name`); None when
    only the deployed app knows (an import path). A config-file app: those its file lists."""
    app = scenario.app
    if app is None:
        return None  # app: none refuses every Serve fault (harness.scenario.workload_only)
    if app.is_builtin:
        from harness.model.scenario import BUILTIN_DEPLOYMENT

        return {BUILTIN_DEPLOYMENT, f"{app.name}/{BUILTIN_DEPLOYMENT}"}
    serve = app.serve_config
    if app.config is None or serve is None or not serve.apps:
        return None
    found = {f"{a.name}/{d}" for a in serve.apps for d in a.deployments}
    return found | set(serve.apps[0].deployments)


def deployment_problems(scenario: Scenario, deployed: set[str]) -> list[tuple[str, str]]:
    """Replica faults naming a deployment the deployed app does not have (an import-path app's
    deployments are known only once it is deployed): (key path, message), checked before load."""
    app_name = scenario.app.name if scenario.app is not None else ""
    problems = []
    for index, entry in enumerate(scenario.chaos.faults):
        dep = entry.targets.deployment
        if dep is None or dep in deployed or load(entry.fault).target_kind != "replica":
            continue
        app, _, name = dep.partition("/")
        if name and app == app_name and name in deployed:  # `App/Name` of the one app
            continue
        listed = ", ".join(sorted(deployed)) or "none"
        problems.append((f"chaos.faults.{index}.targets.deployment",
                         f"expected a deployment of the deployed app ({listed}), got {dep!r}: "
                         f"{entry.fault!r} could never fire"))
    return problems


def _ignored_targets(entry: FaultSpec, cls: type[Fault], base: str) -> list[tuple[str, str]]:
    """Target filters the fault never reads: silently ignored, they would change nothing."""
    problems = []
    if cls.target_kind != "node":
        for key in ("nodes", "resources"):
            if getattr(entry.targets, key):
                problems.append(_expected(f"{base}.targets.{key}", (
                    f"no node filter for {entry.fault!r}: it targets {cls.target_kind} "
                    f"{'(chosen at run time)' if cls.target_kind != 'none' else 'nothing the filter selects'}, "
                    "so the filter would be ignored")))
    if cls.target_kind != "replica" and entry.targets.deployment is not None:
        problems.append(_expected(f"{base}.targets.deployment", (
            f"no deployment for {entry.fault!r}: only replica faults pick a deployment's replicas, "
            "so it would be ignored")))
    return problems


def _node_target_problems(scenario: Scenario, entry: FaultSpec, cls: type[Fault], base: str,
                          workers: list, names: set[str], head: str | None) -> list[tuple[str, str]]:
    """A node fault on a cluster the harness starts: some worker node must match its targets."""
    spec = scenario.chaos
    if not workers:
        return [_expected(f"{base}.fault", (
            f"a worker node in cluster.nodes: {entry.fault!r} never targets the head node "
            f"({head}), the only node, so it could never fire"))]
    problems = []
    if cls.kills_node and len(workers) <= spec.keep_workers_alive:
        problems.append(_expected(f"{base}.fault", (
            f"more worker nodes ({len(workers)}) than chaos.keep_workers_alive "
            f"({spec.keep_workers_alive}): {entry.fault!r} could never fire")))
    for key, node in enumerate(entry.targets.nodes):
        if node not in names:
            problems.append(_expected(f"{base}.targets.nodes.{key}", f"a node of cluster.nodes ({', '.join(sorted(names))}), got {node!r}"))
        elif node == head:
            problems.append(_expected(f"{base}.targets.nodes.{key}", f"a worker node: {node!r} is the head node, never a target"))
    if entry.targets.resources and not any(_offers(n, entry.targets.resources) for n in workers):
        problems.append(_expected(f"{base}.targets.resources", f"resources some worker node offers, got {entry.targets.resources}"))
    if problems:
        return problems
    matching = [n.name for n in workers if (not entry.targets.nodes or n.name in entry.targets.nodes)
                and _offers(n, entry.targets.resources)]
    if not matching:
        return [_expected(f"{base}.targets", (
            f"a worker node that is both in targets.nodes and offers targets.resources "
            f"({entry.targets.resources}): none of {entry.targets.nodes} does, so {entry.fault!r} could never fire"))]
    if entry.batch_size > len(matching):
        return [_expected(f"{base}.batch_size", (
            f"at most {len(matching)} (the worker nodes matching the targets: {', '.join(matching)}), "
            f"got {entry.batch_size}: a shot could never hit that many"))]
    return []


def _expected(key: str, what: str) -> tuple[str, str]:
    return key, f"expected {what}"


def _offers(node: object, wanted: dict[str, float]) -> bool:
    offered = dict(node.resources, CPU=node.num_cpus, GPU=node.num_gpus)  # type: ignore[attr-defined]
    return all(offered.get(key, 0) >= amount for key, amount in wanted.items())
