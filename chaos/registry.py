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
from harness.scenario.errors import describe_validation_error

if TYPE_CHECKING:
    from harness.scenario.config import Scenario

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


def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every chaos problem of a scenario as (key path, what was expected), before any start."""
    spec = scenario.chaos
    problems: list[tuple[str, str]] = []
    existing = scenario.cluster.address is not None
    workers = scenario.cluster.nodes[1:]
    names = {n.name for n in scenario.cluster.nodes}
    head = scenario.cluster.nodes[0].name if scenario.cluster.nodes else None
    deployments = {d.name for d in scenario.app.deployments} if scenario.app else set()
    if scenario.app is not None and scenario.app.is_builtin:
        from harness.scenario.config import BUILTIN_DEPLOYMENT

        deployments.add(BUILTIN_DEPLOYMENT)
    for index, entry in enumerate(spec.faults):
        base = f"chaos.faults.{index}"
        try:
            cls = load(entry.fault)
        except UnknownFault as exc:
            problems.append(_expected(f"{base}.fault", str(exc)))
            continue
        try:
            cls.Args.model_validate(entry.args)
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
        end = entry.schedule.end_s or scenario.duration_s
        late = [t for t in entry.schedule.at_s or [] if t >= end]
        if late:
            problems.append(_expected(f"{base}.schedule.at_s", f"offsets below {end:g}s (the load's end), got {late}"))
        if not existing and cls.target_kind == "node" and not workers:
            problems.append(_expected(f"{base}.fault", (
                f"a worker node in cluster.nodes: {entry.fault!r} never targets the head node "
                f"({head}), the only node, so it could never fire")))
        elif not existing and cls.kills_node and len(workers) <= spec.keep_workers_alive:
            problems.append(_expected(f"{base}.fault", (
                f"more worker nodes ({len(workers)}) than chaos.keep_workers_alive "
                f"({spec.keep_workers_alive}): {entry.fault!r} could never fire")))
        if not existing:
            for key, node in enumerate(entry.targets.nodes):
                if node not in names:
                    problems.append(_expected(f"{base}.targets.nodes.{key}", f"a node of cluster.nodes ({', '.join(sorted(names))}), got {node!r}"))
                elif node == head and cls.target_kind == "node":
                    problems.append(_expected(f"{base}.targets.nodes.{key}", f"a worker node: {node!r} is the head node, never a target"))
            if entry.targets.resources and not any(_offers(n, entry.targets.resources) for n in workers):
                problems.append(_expected(f"{base}.targets.resources", f"resources some worker node offers, got {entry.targets.resources}"))
        dep = entry.targets.deployment
        if dep is not None and deployments and dep not in deployments:
            problems.append(_expected(f"{base}.targets.deployment", f"a deployment of the app ({', '.join(sorted(deployments))}), got {dep!r}"))
    return problems


def _expected(key: str, what: str) -> tuple[str, str]:
    return key, f"expected {what}"


def _offers(node: object, wanted: dict[str, float]) -> bool:
    offered = dict(node.resources, CPU=node.num_cpus, GPU=node.num_gpus)  # type: ignore[attr-defined]
    return all(offered.get(key, 0) >= amount for key, amount in wanted.items())
