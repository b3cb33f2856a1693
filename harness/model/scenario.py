"""The scenario schema: typed, validated whole before anything starts.

Every model forbids unknown keys, so a typo is an error, not a silent default.
Cross-field rules (replica bounds, resources no node has) live in validators here
so that `harness validate` and `harness run` reject the same files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from harness.hooks import hookimpl
from harness.model.autoscaling_spec import AutoscalingClusterSpec
from harness.model.load_spec import LoadSpec
from harness.model.serve_apps import ServeConfig
from harness.model.worker_placement import static_problems

NonNegFloat = Annotated[float, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
# Ray resource quantities are floats; a bounded size stops a hostile file from
# asking for absurd values that Ray would only reject much later.
ResourceAmount = Annotated[float, Field(ge=0, le=1e6)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, strict=True)


class NodeSpec(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    num_cpus: Annotated[int, Field(ge=0, le=256)]
    num_gpus: Annotated[int, Field(ge=0, le=64)] = 0
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)
    object_store_mb: Annotated[int, Field(ge=75, le=65536)] = 100


class ClusterSpec(Strict):
    # Connect to an existing cluster instead of starting one.
    address: str | None = None
    nodes: list[NodeSpec] = Field(default_factory=list, max_length=16)
    # Passed to the head node as Ray's _system_config (e.g. faster health checks).
    system_config: dict[str, int | float | str | bool] = Field(default_factory=dict)
    dashboard: bool = False
    start_timeout_s: PosFloat = 120
    # A head plus node types Ray's autoscaler launches on this machine (harness.cluster.autoscaling_cluster).
    autoscaling: AutoscalingClusterSpec | None = None

    @model_validator(mode="after")
    def _nodes_or_address(self) -> ClusterSpec:
        kinds = [k for k in ("address", "nodes", "autoscaling") if getattr(self, k)]
        if not kinds:
            raise ValueError("expected either cluster.address or at least one entry in cluster.nodes")
        if len(kinds) > 1:
            raise ValueError(f"expected one of cluster.address, cluster.nodes, cluster.autoscaling, got {kinds}")
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"expected unique node names, got {names}")
        return self

    def all_resources(self) -> dict[str, float]:
        """The largest amount of each resource any single node (or node type) offers."""
        if self.autoscaling is not None:
            return self.autoscaling.all_resources()
        best: dict[str, float] = {}
        for node in self.nodes:
            offered = dict(node.resources, CPU=node.num_cpus, GPU=node.num_gpus)
            for key, amount in offered.items():
                best[key] = max(best.get(key, 0), amount)
        return best


class LatencySpec(Strict):
    """Service time of the built-in app, in milliseconds."""

    distribution: Literal["fixed", "uniform", "exponential", "lognormal"] = "fixed"
    ms: NonNegFloat = 0  # fixed value, or the mean / median
    max_ms: NonNegFloat = 0  # upper end for uniform
    sigma: NonNegFloat = 0.5  # lognormal shape

    @model_validator(mode="after")
    def _bounds(self) -> LatencySpec:
        if self.distribution == "uniform" and self.max_ms < self.ms:
            raise ValueError("expected max_ms >= ms for a uniform latency")
        return self


class BuiltinAppSpec(Strict):
    latency: LatencySpec = Field(default_factory=LatencySpec)
    cpu_work_ms: Annotated[float, Field(ge=0, le=10_000)] = 0
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0
    payload_bytes: Annotated[int, Field(ge=0, le=10_000_000)] = 64
    startup_delay_s: Annotated[float, Field(ge=0, le=600)] = 0
    leak_kb_per_request: Annotated[float, Field(ge=0, le=10_000)] = 0


class AutoscalingSpec(Strict):
    min_replicas: NonNegInt = 1
    max_replicas: PosInt = 1
    initial_replicas: NonNegInt | None = None
    target_ongoing_requests: PosFloat = 2
    metrics_interval_s: PosFloat | None = None
    look_back_period_s: PosFloat | None = None
    upscale_delay_s: NonNegFloat | None = None
    downscale_delay_s: NonNegFloat | None = None
    upscaling_factor: PosFloat | None = None
    downscaling_factor: PosFloat | None = None

    @model_validator(mode="after")
    def _replica_bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"expected min_replicas <= max_replicas, got {self.min_replicas} > {self.max_replicas}"
            )
        return self


class ActorOptions(Strict):
    num_cpus: Annotated[float, Field(ge=0, le=256)] | None = None
    num_gpus: Annotated[float, Field(ge=0, le=64)] | None = None
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)


class DeploymentSpec(Strict):
    """Options passed through to one Serve deployment, by name."""

    name: str = Field(min_length=1)
    num_replicas: Annotated[int, Field(ge=1, le=1000)] | None = None
    autoscaling_config: AutoscalingSpec | None = None
    max_ongoing_requests: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_queued_requests: Annotated[int, Field(ge=-1, le=1_000_000)] | None = None
    # How a replica Serve stops ends (scale-down, a redeploy, the run's deletion of its app).
    graceful_shutdown_wait_loop_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    graceful_shutdown_timeout_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    ray_actor_options: ActorOptions | None = None

    @model_validator(mode="after")
    def _one_scaling_mode(self) -> DeploymentSpec:
        if self.num_replicas is not None and self.autoscaling_config is not None:
            raise ValueError("expected num_replicas or autoscaling_config, not both")
        return self

    def serve_options(self) -> dict[str, Any]:
        """The deployment's overrides as Serve's config schema spells them."""
        out = self.model_dump(exclude_none=True)
        if self.ray_actor_options is not None:
            actor = self.ray_actor_options.model_dump(exclude_none=True)
            if not actor.get("resources"):
                actor.pop("resources", None)
            out["ray_actor_options"] = actor
        return out


BUILTIN_IMPORT_PATH = "harness.app.builtin:build_app"
BUILTIN_DEPLOYMENT = "Echo"


class AppSpec(Strict):
    name: str = Field(default="app", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    route_prefix: str = Field(default="/", pattern=r"^/")
    # "pkg.module:app" as `serve run` takes it; unset means the built-in app.
    import_path: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    args: dict[str, Any] = Field(default_factory=dict)
    builtin: BuiltinAppSpec = Field(default_factory=BuiltinAppSpec)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    ready_timeout_s: PosFloat = 90
    # Extra directories put on the Python path of the cluster's workers, so the
    # controller can import the user's app.
    python_path: list[str] = Field(default_factory=list)
    # A Serve config file (`serve build` output) instead of the fields above; read and
    # validated by Ray Serve's own schema in harness.app.serve_config.
    config: str | None = Field(default=None, min_length=1)
    # The Serve config the loader resolved (harness.scenario.loader.attach_serve_config: the
    # file read and validated, or the app form built into one). Not a key of the scenario
    # file: refused there, left out of every dump (scenario.yaml, summary.json) and the schema.
    serve_config: SkipJsonSchema[ServeConfig | None] = Field(default=None, exclude=True, repr=False)

    @field_validator("serve_config", mode="before")
    @classmethod
    def _resolved_only(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, ServeConfig):
            raise ValueError("expected no serve_config key (the harness reads app.config into it)")
        return value

    @model_validator(mode="after")
    def _config_alone(self) -> AppSpec:
        if self.config is not None:
            clash = sorted(self.model_fields_set & {"name", "route_prefix", "import_path", "args", "builtin",
                                                     "deployments", "python_path"})
            if clash:
                raise ValueError(f"expected app.config alone (the Serve config file holds the apps), "
                                 f"not also {', '.join(clash)}")
        return self

    @property
    def is_builtin(self) -> bool:
        return self.import_path is None and self.config is None

    def resolved_import_path(self) -> str:
        return self.import_path or BUILTIN_IMPORT_PATH


class HealthSpec(Strict):
    """How the harness watches its own parts (harness.run.health)."""

    # End the run as disk_full before the results disk is too full to write them.
    min_free_disk_mb: Annotated[float, Field(ge=0, le=1_000_000)] = 50
    # The GCS refusing connections this long means the cluster is lost.
    cluster_lost_after_s: Annotated[float, Field(gt=0, le=3600)] = 3
    check_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class SLOSpec(Strict):
    """One pass/fail rule: `check` reads like the sentence a person would say."""

    check: str = Field(min_length=3)
    name: str | None = None
    # A window of the timeline (see harness.measure.windows): `load`, `fault-1`,
    # `30s after fault-1`, ... Unset: the metric's own default (`load` for most).
    window: str | None = Field(default=None, min_length=1, max_length=200)
    # When the window holds nothing to measure (`p(99, shed)` on a run that shed
    # nothing): fail (the default: no evidence is no pass) or pass.
    on_no_data: Literal["fail", "pass"] = "fail"
    # Judge only the requests of this name (load.requests); request metrics only.
    request: str | None = Field(default=None, min_length=1, max_length=64)
    # End the run as soon as this SLO cannot pass whatever the rest of the load brings
    # (harness.run.failfast; `harness run --fail-fast` sets it on every SLO that supports it).
    abort_on_fail: bool = False

    def display_name(self) -> str:
        if self.name:
            return self.name
        text = self.check if self.request is None else f"{self.check} for {self.request}"
        return text if self.window in (None, "load") else f"{text} [{self.window}]"


WorkloadName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class TasksWorkloadSpec(Strict):
    """Many Ray tasks with retries beside the traffic; every result is checked."""

    type: Literal["tasks"]
    name: WorkloadName
    num_tasks: Annotated[int, Field(ge=1, le=100_000)] = 200
    # Submissions are spread over this many seconds (unset: the scenario's duration).
    spread_s: PosFloat | None = None
    task_s: Annotated[float, Field(ge=0, le=600)] = 0.5  # each task sleeps this long
    num_cpus: Annotated[float, Field(ge=0, le=256)] = 0.25
    # Custom resources each task needs (e.g. to place tasks on one kind of node).
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)
    max_retries: Annotated[int, Field(ge=-1, le=1000)] = -1
    # Each task starts this many child tasks (with the same retries) and sums their results.
    children: Annotated[int, Field(ge=0, le=16)] = 0
    # Every result must be in within this many seconds of the workload's start.
    timeout_s: PosFloat = 120


class ActorsWorkloadSpec(Strict):
    """Restartable actors relaying numbered messages; none acknowledged may be lost."""

    type: Literal["actors"]
    name: WorkloadName
    num_actors: Annotated[int, Field(ge=1, le=256)] = 2
    messages: Annotated[int, Field(ge=1, le=100_000)] = 100  # per actor
    spread_s: PosFloat | None = None
    num_cpus: Annotated[float, Field(ge=0, le=256)] = 0.1
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)  # per relay actor
    max_restarts: Annotated[int, Field(ge=-1, le=1000)] = -1
    max_task_retries: Annotated[int, Field(ge=-1, le=1000)] = -1
    call_timeout_s: PosFloat = 60
    timeout_s: PosFloat = 120


class ScriptWorkloadSpec(Strict):
    """Any Python driver script, run with RAY_ADDRESS set to the run's cluster."""

    type: Literal["script"]
    name: WorkloadName
    path: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    timeout_s: PosFloat = 600


WorkloadSpec = Annotated[
    TasksWorkloadSpec | ActorsWorkloadSpec | ScriptWorkloadSpec, Field(discriminator="type")
]
Percent = Annotated[float, Field(gt=0, le=100)]


class HostGuardSpec(Strict):
    """Ends the run as an infrastructure error when this machine stays saturated."""

    enabled: bool = True
    cpu_percent: Percent | None = None  # whole machine, all cores averaged
    memory_percent: Percent | None = 95
    # The run's own processes (harness, Ray, load), resident memory summed.
    own_memory_mb: PosFloat | None = None
    for_s: PosFloat = 15  # saturated for this long, without a break
    interval_s: Annotated[float, Field(ge=0.2, le=60)] = 1.0

    @model_validator(mode="after")
    def _some_bound(self) -> HostGuardSpec:
        if self.enabled and not (self.cpu_percent or self.memory_percent or self.own_memory_mb):
            raise ValueError("expected at least one of cpu_percent, memory_percent, own_memory_mb")
        return self


class RecorderSpec(Strict):
    # 2 Hz or faster: autoscaling and recovery SLOs are only as precise as this.
    interval_s: Annotated[float, Field(ge=0.05, le=0.5)] = 0.5
    retries: Annotated[int, Field(ge=1, le=10)] = 3
    memory: bool = True  # harness.run.memory_sampler, each round


class ScheduleSpec(Strict):
    """When a fault fires, in seconds after load starts: fixed offsets, every N s, or Poisson."""

    at_s: list[NonNegFloat] | None = Field(default=None, max_length=1000)
    every_s: PosFloat | None = None
    jitter_s: NonNegFloat = 0  # each periodic shot lands up to this much later
    poisson_per_s: Annotated[float, Field(gt=0, le=100)] | None = None  # mean rate
    start_s: NonNegFloat = 0
    end_s: PosFloat | None = None  # default: the load's duration
    count: Annotated[int, Field(ge=1, le=1000)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSpec:
        kinds = [k for k in ("at_s", "every_s", "poisson_per_s") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"expected exactly one of at_s, every_s, poisson_per_s (got {kinds or 'none'})")
        if self.every_s is not None and self.jitter_s >= self.every_s:
            raise ValueError(f"expected jitter_s < every_s, got {self.jitter_s:g} >= {self.every_s:g}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"expected end_s > start_s, got {self.end_s:g} <= {self.start_s:g}")
        return self

    # The schedule's rules, in one place: the chaos plan fires by them (chaos.plan), the
    # validation of SLO windows counts `fault-N` by them (harness.slo.targets).

    def end(self, duration_s: float) -> float:
        """Where the schedule stops: its end_s, else the load's end (duration_s after load start)."""
        return self.end_s if self.end_s is not None else duration_s

    def fires_at(self, offset_s: float, duration_s: float) -> bool:
        """Whether a shot at this offset lies within the schedule: start_s <= t < end."""
        return self.start_s <= offset_s < self.end(duration_s)

    def max_shots(self, duration_s: float) -> float:
        """The most shots the schedule can fire (inf when unbounded: Poisson without a count)."""
        cap = float(self.count) if self.count is not None else math.inf
        if self.at_s is not None:
            return min(cap, sum(1 for t in self.at_s if self.fires_at(t, duration_s)))
        if self.every_s is not None:  # jitter only delays a shot, so no more than this
            return min(cap, max(0, math.ceil((self.end(duration_s) - self.start_s) / self.every_s)))
        return cap


class TargetFilter(Strict):
    """Which targets a fault may hit. The head node is never a target of a node fault."""

    nodes: list[str] = Field(default_factory=list)  # node names
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)  # node offers at least these
    deployment: str | None = None  # Serve deployment (replica faults)


class FaultSpec(Strict):
    fault: str = Field(min_length=1, max_length=80)  # a registered fault name
    args: dict[str, Any] = Field(default_factory=dict)  # checked against the fault's own model
    schedule: ScheduleSpec
    batch_size: Annotated[int, Field(ge=1, le=64)] = 1
    targets: TargetFilter = Field(default_factory=TargetFilter)
    # Node faults: start a replacement node with the same spec this long after the kill.
    replace_after_s: NonNegFloat | None = None
    # A shot of this entry that does not fire fails nothing (the implicit SLO
    # `faults injected as planned` names it but does not count it).
    optional: bool = False


class ChaosSpec(Strict):
    faults: list[FaultSpec] = Field(default_factory=list, max_length=100)
    max_to_kill: NonNegInt | None = None  # node kills over the whole run
    keep_workers_alive: NonNegInt = 1  # never kill below this many worker nodes
    notice_timeout_s: PosFloat = 60  # how long to wait for the cluster to notice a fault
    # Destructive faults against cluster.address (a cluster this run did not start).
    allow_destructive_on_existing: bool = False
    # Register a ResourceKiller actor (Ray's release chaos handshake): the node-fault
    # schedule starts when a script calls its run() and stops at stop_run() (chaos.killer).
    resource_killer: bool = False


def _app_none_schema(schema: dict[str, Any]) -> None:
    """`app: none` in the JSON schema (the validator turns the word into None)."""
    schema["anyOf"] = [*schema.get("anyOf", []), {"const": "none"}]


class Scenario(Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    duration_s: PosFloat = Field(le=7 * 24 * 3600)
    # The whole run, start to teardown, must end within this.
    timeout_s: PosFloat = Field(default=600, le=7 * 24 * 3600)
    # Keep recording for this long after the load stops (scale-down, recovery).
    cooldown_s: NonNegFloat = 0
    cluster: ClusterSpec
    # `app: none`: a workload-only scenario (no Serve app, no load process; harness.scenario.workload_only).
    app: AppSpec | None = Field(default_factory=AppSpec, json_schema_extra=_app_none_schema)
    # Unset with an app: the default load. Always unset (None) when app is none.
    load: LoadSpec | None = None
    slos: list[SLOSpec] = Field(default_factory=list, max_length=200)
    workloads: list[WorkloadSpec] = Field(default_factory=list, max_length=32)
    recorder: RecorderSpec = Field(default_factory=RecorderSpec)
    host_guard: HostGuardSpec = Field(default_factory=HostGuardSpec)
    chaos: ChaosSpec = Field(default_factory=ChaosSpec)
    health: HealthSpec = Field(default_factory=HealthSpec)
    # The confidence of every verdict's interval (harness.measure.confidence): a verdict
    # whose bound lies inside its interval is `inconclusive`. 0.95 or "95%".
    confidence: Annotated[float, Field(ge=0.5, lt=1)] = 0.95

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_percent(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            try:
                if text.endswith("%"):
                    return float(text.removesuffix("%")) / 100.0
            except ValueError:
                pass
            raise ValueError(f"expected a confidence such as 0.95 or '95%', got {value!r}")
        return value

    @field_validator("app", mode="before")
    @classmethod
    def _app_none(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        if not isinstance(value, dict) and not isinstance(value, AppSpec):
            raise ValueError(f"expected a mapping (the Serve app to deploy) or 'none' (no app), got {value!r}")
        return value

    @field_validator("load")
    @classmethod
    def _no_load_without_app(cls, value: LoadSpec | None, info: ValidationInfo) -> LoadSpec | None:
        if value is not None and "app" in info.data and info.data["app"] is None:
            raise ValueError("expected no load section with app: none (a workload-only run sends no requests)")
        return value

    @model_validator(mode="after")
    def _default_load(self) -> Scenario:
        if self.app is not None and self.load is None:
            self.load = LoadSpec()
        return self

    @property
    def workload_only(self) -> bool:
        """No Serve app and no load: the run is driven by its workloads."""
        return self.app is None

    @property
    def python_path(self) -> list[str]:
        """Directories put on the cluster workers' Python path (the app's; none without one)."""
        return self.app.python_path if self.app is not None else []

    @model_validator(mode="after")
    def _timeout_covers_run(self) -> Scenario:
        if self.timeout_s <= self.duration_s + self.cooldown_s:
            raise ValueError(
                f"expected timeout_s > duration_s + cooldown_s, got {self.timeout_s:g} <= "
                f"{self.duration_s + self.cooldown_s:g}"
            )
        return self

    @model_validator(mode="after")
    def _unique_workloads(self) -> Scenario:
        names = [w.name for w in self.workloads]
        if len(set(names)) != len(names):
            raise ValueError(f"expected unique workload names, got {names}")
        return self

    def deployment(self, name: str) -> DeploymentSpec | None:
        return next((d for d in self.app.deployments if d.name == name), None) if self.app else None


def semantic_errors(scenario: Scenario) -> list[tuple[str, str]]:
    """Rules that span sections, as (key path, what was expected) pairs."""
    errors: list[tuple[str, str]] = []
    for index, work in enumerate(scenario.workloads):
        if isinstance(work, ScriptWorkloadSpec) and not Path(work.path).is_file():
            errors.append((f"workloads.{index}.path", f"an existing script file, got {work.path!r}"))
        if work.timeout_s >= scenario.timeout_s:
            errors.append((
                f"workloads.{index}.timeout_s",
                f"less than the scenario's timeout_s ({scenario.timeout_s:g}), got {work.timeout_s:g}",
            ))
    if scenario.app is not None and scenario.app.is_builtin:
        for index, dep in enumerate(scenario.app.deployments):
            if dep.name != BUILTIN_DEPLOYMENT:
                errors.append((f"app.deployments.{index}.name",
                               f"a deployment of the built-in app ({BUILTIN_DEPLOYMENT}), got {dep.name!r}"))
    errors += static_problems(scenario.load, scenario.cluster)  # placement: cluster vs the node list
    return errors


@hookimpl
def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """The cross-section rules above, as checks of the loader (harness.hooks)."""
    return [(key, f"expected {what}") for key, what in semantic_errors(scenario)]
