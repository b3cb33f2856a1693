"""What the scenario asks the cluster to place, against what its nodes offer, before anything starts.

Work that no node can hold does not fail: Ray keeps it pending, so the run hangs until a
timeout and ends as an infrastructure error (exit 3) that a suite retries. Each demand
is checked here instead, one unit at a time (one replica, one task, one actor):

    a deployment's replica    ray_actor_options (num_cpus: Serve's default 1 for the built-in
                              app; a config file's and an import path's only as written),
                              num_gpus, resources, accelerator_type; a config file's
                              placement_group_bundles (each bundle; STRICT_PACK: all on one node)
    a tasks workload's task   num_cpus, resources
    an actors workload's actor num_cpus, resources

On `cluster.nodes` a demand must fit one node whole (every resource on the same node). On
`cluster.autoscaling` it must fit the head or one node type, and a type it fits only with
`max_workers: 0` can never be launched; `node_cap` below the sum of `min_workers` can never
be met. `cluster.address` is a cluster only the run sees: nothing is checked here.
Each problem is (key path, what was expected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.hooks import hookimpl
from harness.model.scenario import BUILTIN_DEPLOYMENT, ActorOptions, Scenario

SERVE_DEFAULT_CPUS = 1.0  # a replica without num_cpus reserves one CPU (Serve's default)
RESOURCE_KEYS = {"num_cpus": "CPU", "num_gpus": "GPU"}


@dataclass(frozen=True)
class Demand:
    """One unit of work to place: where it is written, what it is, what it needs."""

    key: str  # the key path of the options that ask for it
    who: str  # "deployment 'Echo'", "a task of workload 'batch'"
    needs: dict[str, tuple[float, str]]  # resource -> (amount, the key path of that amount)


@dataclass(frozen=True)
class NodeOffer:
    """A node (or node type) that can hold work: its name and what it offers."""

    name: str
    offers: dict[str, float]
    max_workers: int | None = None  # a node type: how many the autoscaler may launch


def _fmt(needs: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(needs.items()))


def _fits(offers: dict[str, float], needs: dict[str, float]) -> bool:
    return all(offers.get(k, 0.0) >= v for k, v in needs.items() if v > 0)


# -- demands -----------------------------------------------------------------


def _actor_options(opts: dict[str, Any], key: str, default_cpus: float | None) -> dict[str, tuple[float, str]]:
    """ray_actor_options (Ray's spelling) as resource -> (amount, key path)."""
    needs: dict[str, tuple[float, str]] = {}
    for name, resource in RESOURCE_KEYS.items():
        value = opts.get(name)
        if value is None and name == "num_cpus" and default_cpus is not None:
            needs[resource] = (default_cpus, f"{key}.num_cpus")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            needs[resource] = (float(value), f"{key}.{name}")
    for name, value in (opts.get("resources") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            needs[str(name)] = (float(value), f"{key}.resources.{name}")
    accelerator = opts.get("accelerator_type")
    if isinstance(accelerator, str) and accelerator:
        needs[f"accelerator_type:{accelerator}"] = (0.001, f"{key}.accelerator_type")
    return needs


def _app_demands(scenario: Scenario) -> list[Demand]:
    app = scenario.app
    if app is None:
        return []
    if app.config is None:  # the harness's own app form: built-in or import path, with deployments:
        default = SERVE_DEFAULT_CPUS if app.is_builtin else None
        out = []
        names = {d.name for d in app.deployments}
        for index, dep in enumerate(app.deployments):
            opts = (dep.ray_actor_options or ActorOptions()).model_dump(exclude_none=True)
            key = f"app.deployments.{index}.ray_actor_options"
            out.append(Demand(key, f"deployment {dep.name!r}", _actor_options(opts, key, default)))
        if app.is_builtin and BUILTIN_DEPLOYMENT not in names:
            out.append(Demand("app.deployments", f"deployment {BUILTIN_DEPLOYMENT!r} (Serve's default: 1 CPU)",
                              {"CPU": (SERVE_DEFAULT_CPUS, "app.deployments")}))
        return out
    return _config_file_demands(app)


def _config_file_demands(app: Any) -> list[Demand]:
    """A Serve config file's deployments, as the file writes them (its key paths are the file's)."""
    serve = app.serve_config
    data = serve.data if serve is not None else {}
    out = []
    for a, application in enumerate(data.get("applications") or []):
        for d, dep in enumerate(application.get("deployments") or []):
            if not isinstance(dep, dict):
                continue
            base = f"app.config: {app.config}: applications.{a}.deployments.{d}"
            who = f"deployment {application.get('name', 'default')}/{dep.get('name')}"
            opts = dep.get("ray_actor_options")
            if isinstance(opts, dict):
                key = f"{base}.ray_actor_options"
                out.append(Demand(key, who, _actor_options(opts, key, None)))
            bundles = dep.get("placement_group_bundles")
            if isinstance(bundles, list):
                out += _bundle_demands(bundles, dep.get("placement_group_strategy"), base, who)
    return out


def _bundle_demands(bundles: list[Any], strategy: Any, base: str, who: str) -> list[Demand]:
    out = []
    total: dict[str, float] = {}
    for b, bundle in enumerate(bundles):
        if not isinstance(bundle, dict):
            continue
        key = f"{base}.placement_group_bundles.{b}"
        needs = {str(k): (float(v), f"{key}.{k}") for k, v in bundle.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0}
        out.append(Demand(key, f"{who}'s bundle {b}", needs))
        for k, (v, _) in needs.items():
            total[k] = total.get(k, 0.0) + v
    if strategy == "STRICT_PACK" and len(out) > 1:
        key = f"{base}.placement_group_strategy"
        out.append(Demand(key, f"{who}'s bundles (STRICT_PACK: all on one node)",
                          {k: (v, key) for k, v in total.items()}))
    return out


def _workload_demands(scenario: Scenario) -> list[Demand]:
    out = []
    for index, work in enumerate(scenario.workloads):
        if work.type == "script":
            continue  # what a script asks for is known only when it runs
        unit = "task" if work.type == "tasks" else "actor"
        needs = {}
        if work.num_cpus > 0:
            needs["CPU"] = (float(work.num_cpus), f"workloads.{index}.num_cpus")
        for name, amount in work.resources.items():
            if amount > 0:
                needs[name] = (float(amount), f"workloads.{index}.resources.{name}")
        out.append(Demand(f"workloads.{index}", f"{unit}s of workload {work.name!r}", needs))
    return out


def demands(scenario: Scenario) -> list[Demand]:
    """Every unit of work the scenario places on the cluster, with its key path."""
    return [d for d in _app_demands(scenario) + _workload_demands(scenario) if d.needs]


# -- hosts and fit -----------------------------------------------------------


def hosts(scenario: Scenario) -> list[NodeOffer] | None:
    """Where work may go: the fixed nodes, or the head and the node types; None on cluster.address."""
    cluster = scenario.cluster
    if cluster.address is not None:
        return None
    if cluster.autoscaling is not None:
        spec = cluster.autoscaling
        return [NodeOffer("the head", spec.head.offered()),
                *(NodeOffer(f"node type {t.name!r}", t.offered(), t.max_workers) for t in spec.node_types)]
    return [NodeOffer(f"node {n.name!r}", dict(n.resources, CPU=n.num_cpus, GPU=n.num_gpus)) for n in cluster.nodes]


def _misfit(demand: Demand, places: list[NodeOffer], autoscaling: bool) -> tuple[str, str] | None:
    needs = {k: v for k, (v, _) in demand.needs.items()}
    fitting = [h for h in places if _fits(h.offers, needs)]
    launchable = [h for h in fitting if h.max_workers != 0]
    if launchable:
        return None
    where = "node type or the head" if autoscaling else "node"
    if fitting:  # only node types the autoscaler may never launch
        names = ", ".join(h.name for h in fitting)
        return demand.key, (f"a node type that may be launched for {demand.who} ({_fmt(needs)}): only {names} "
                            f"fits it, with max_workers: 0, so it could never be placed")
    short = [k for k in needs if not any(h.offers.get(k, 0.0) >= needs[k] for h in places)]
    if short:  # one resource no single node offers enough of: name that amount's key
        resource = short[0]
        best = max((h.offers.get(resource, 0.0) for h in places), default=0.0)
        return demand.needs[resource][1], (
            f"a resource some node offers: {demand.who} needs {resource}={needs[resource]:g}, "
            f"the largest {where} has {best:g}")
    offered = "; ".join(f"{h.name}: {_fmt({k: h.offers.get(k, 0.0) for k in needs})}" for h in places)
    return demand.key, (f"one {where} that offers all of it: {demand.who} needs {_fmt(needs)} on one node, "
                        f"and none has all of it ({offered})")


def problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every demand no node (or node type) could hold, and autoscaling bounds that cannot be met."""
    places = hosts(scenario)
    if places is None:
        return []
    autoscaling = scenario.cluster.autoscaling
    out = [p for p in (_misfit(d, places, autoscaling is not None) for d in demands(scenario)) if p]
    if autoscaling is not None and autoscaling.node_cap is not None:
        floor = sum(t.min_workers for t in autoscaling.node_types)
        if autoscaling.node_cap < floor:
            out.append(("cluster.autoscaling.node_cap", (
                f"at least the sum of min_workers ({floor}: "
                f"{', '.join(f'{t.name}={t.min_workers}' for t in autoscaling.node_types if t.min_workers)}), "
                f"got {autoscaling.node_cap}: the cluster could never start")))
    return out


@hookimpl
def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """This module's rules as checks of the loader (harness.hooks)."""
    return [(key, f"expected {what}") for key, what in problems(scenario)]
