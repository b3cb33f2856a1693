"""The fault-plugin API: one base class, four verbs (prepare, inject, clean up, describe).

A fault is a class with a unique `name`, a pydantic `Args` model that its scenario
arguments are validated against before anything starts, and a few class-level
traits the planner reads (what it targets, whether it kills a node). The chaos
component creates one instance per scenario entry and calls, in this order:

    prepare(env)                      once, after the app is ready, before load
    inject(env, shot) -> Injection    at each planned time (on a worker thread)
    noticed(env, injection)           polled with backoff until the cluster noticed
    cleanup(env, injection)           when the fault's duration is over (or the run ends)

A third-party package adds a fault by subclassing Fault and declaring it in the
`harness.faults` entry-point group:

    [project.entry-points."harness.faults"]
    my_fault = "my_pkg.faults:MyFault"
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from chaos.guard import OwnershipGuard
    from chaos.proxy import FaultProxy
    from harness.model.context import RunContext
    from harness.model.scenario import FaultSpec, Scenario

TargetKind = Literal["node", "replica", "proxy", "controller", "task_worker", "network", "none"]
Outcome = Literal["injected", "failed", "no_target", "refused"]


class FaultArgs(BaseModel):
    """Base for a fault's arguments: unknown keys are errors, as in the scenario."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoArgs(FaultArgs):
    pass


class DurationArgs(FaultArgs):
    duration_s: float = Field(default=5.0, gt=0, le=3600)


@dataclass(kw_only=True)
class Shot:
    """One planned firing of a fault, as the planner resolved it."""

    id: str  # "fault-3": also the name of the fault's timeline window
    planned_t: float  # epoch seconds
    nodes: list[str] = field(default_factory=list)  # node targets chosen by the planner
    picks: list[float] = field(default_factory=list)  # seeded draws for run-time targets
    deployment: str | None = None


@dataclass(kw_only=True)
class Injection:
    """What inject() did: recorded on the timeline, then handed to noticed() and cleanup()."""

    outcome: Outcome
    targets: list[dict[str, Any]] = field(default_factory=list)  # node, node_id, pid, actor_id, ...
    detail: str = ""
    duration_s: float = 0.0  # 0: the fault is over once injected (a kill)
    state: dict[str, Any] = field(default_factory=dict)  # private to the fault
    injected_t: float = field(default_factory=time.time)


@dataclass
class FaultEnv:
    """What a fault may touch: the run's context, the ownership guard and the fault proxy."""

    ctx: RunContext
    guard: OwnershipGuard
    proxy: FaultProxy | None = None

    @property
    def app_name(self) -> str:
        """The app under test; with a Serve config file of several apps, its first."""
        app = self.ctx.scenario.app
        if app is None:  # a workload-only run has no app
            return ""
        config = app.serve_config
        return config.apps[0].name if config is not None and config.apps else app.name

    def app_of(self, deployment: str | None) -> tuple[str, str | None]:
        """(app, deployment) of a target: `App/Deployment`, or a deployment of the first app."""
        if deployment and "/" in deployment:
            app, name = deployment.split("/", 1)
            return app, name
        return self.app_name, deployment


class Fault(ABC):
    """Base class of every fault. Subclasses set `name`, `Args` and the traits below."""

    name: ClassVar[str] = ""
    Args: ClassVar[type[FaultArgs]] = NoArgs
    target_kind: ClassVar[TargetKind] = "none"
    kills_node: ClassVar[bool] = False  # the planner counts it against max_to_kill / keep-alive
    destructive: ClassVar[bool] = True  # needs chaos.allow_destructive_on_existing on cluster.address
    description: ClassVar[str] = ""

    def __init__(self, args: FaultArgs):
        self.args = args

    @classmethod
    def scenario_problems(cls, scenario: Scenario, entry: FaultSpec, args: FaultArgs, key: str) -> list[tuple[str, str]]:
        """Why this fault could never fire in this scenario, checked before anything starts:
        (key path, what was expected) pairs; `key` is the entry's (`chaos.faults.N`). The
        schedule and the target filters are checked for every fault (chaos.fault_registry)."""
        return []

    def prepare(self, env: FaultEnv) -> None:  # noqa: B027 - optional hook
        """Once per run, before load starts (define actors, check preconditions)."""

    @abstractmethod
    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        """Carry the fault out now; raise FaultError / NoTarget (chaos.fault_errors) when it cannot be."""

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        """How the cluster noticed the fault, or None while it has not yet (polled)."""
        return "injected"

    def cleanup(self, env: FaultEnv, injection: Injection) -> None:  # noqa: B027 - optional hook
        """End the fault (stop stress, restore the network). Must be safe to call twice."""

    def describe(self) -> dict[str, Any]:
        return {
            "fault": self.name,
            "args": self.args.model_dump(mode="json"),
            "target_kind": self.target_kind,
            "destructive": self.destructive,
            "description": self.description or next(iter((self.__doc__ or "").strip().splitlines()), ""),
        }


def pick(candidates: list[Any], draws: list[float]) -> list[Any]:
    """Choose distinct candidates with the planner's seeded draws (candidates pre-sorted)."""
    pool = list(candidates)
    chosen = []
    for draw in draws:
        if not pool:
            break
        chosen.append(pool.pop(min(int(draw * len(pool)), len(pool) - 1)))
    return chosen
