"""What each scenario key means, once: `harness schema` puts it in every property's
`description` (editors show it on hover) and docs/scenario-reference.md renders the same
text (tests/unit/test_field_docs.py keeps both true).

A key's text is the comment the model's source gives it (on its line, or the comment
lines right above it), or, where the source has none, an entry of DOCS below.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel

LEVEL = "users (closed model) or requests per second (open model)"
SPAWN = "users started per second when the level rises (closed model; default: load.spawn_rate)"
RES = "custom resources and their amounts, e.g. {A100: 1} (simulated accelerator types)"
OBJ = "object store size in MB (keep it small on one machine: ~100)"

DOCS: dict[str, str] = {
    "Scenario.name": "the scenario's name: results folders, JUnit testsuites and history are keyed on it",
    "Scenario.description": "one line on what the scenario checks (shown in the report)",
    "Scenario.seed": "fixes every random choice of the run (chaos, arrivals, request bodies); --seed overrides it",
    "Scenario.duration_s": "how long the load runs, in seconds",
    "Scenario.cluster": "what the run stands on: a local cluster of `nodes`, an autoscaling one, or an existing `address`",
    "Scenario.slos": "the checks that decide the verdict: each `check` judged over a `window` of the timeline",
    "Scenario.workloads": "Ray work beside the load: tasks, actors or a driver script",
    "Scenario.recorder": "how often the cluster and Serve state are sampled",
    "Scenario.host_guard": "ends the run as an infrastructure error when this machine stays saturated",
    "Scenario.chaos": "faults to inject, on a seeded schedule",
    "Scenario.health": "how the harness watches its own parts (disk, cluster)",
    "ClusterSpec.nodes": "a local cluster on 127.0.0.1: one entry per node, the first is the head",
    "ClusterSpec.dashboard": "start Ray's dashboard (off by default: it costs memory and CPU)",
    "ClusterSpec.start_timeout_s": "seconds the cluster may take to start before the run ends with exit 3",
    "NodeSpec.name": "the node's name (chaos targets and SLOs name nodes by it)",
    "NodeSpec.num_cpus": "CPUs the node offers to Ray",
    "NodeSpec.num_gpus": "GPUs the node offers to Ray",
    "NodeSpec.resources": RES,
    "NodeSpec.object_store_mb": OBJ,
    "AutoscalingClusterSpec.head": "the head node's resources (it runs no scheduled work of its own types)",
    "AutoscalingClusterSpec.node_types": "worker node types the autoscaler may launch",
    "AutoscalingClusterSpec.idle_timeout_s": "seconds a node may stay idle before the autoscaler removes it",
    "AutoscalingClusterSpec.upscaling_speed": "Ray's upscaling_speed: how many nodes it may add at once, relative to those it has",
    "HeadSpec.num_cpus": "CPUs the head offers",
    "HeadSpec.num_gpus": "GPUs the head offers",
    "HeadSpec.resources": RES,
    "HeadSpec.object_store_mb": OBJ,
    "NodeTypeSpec.name": "the node type's name (node SLOs and `nodes` records name it)",
    "NodeTypeSpec.num_cpus": "CPUs each node of this type offers",
    "NodeTypeSpec.num_gpus": "GPUs each node of this type offers",
    "NodeTypeSpec.resources": RES,
    "NodeTypeSpec.min_workers": "nodes of this type kept at all times",
    "NodeTypeSpec.max_workers": "most nodes of this type at once",
    "NodeTypeSpec.object_store_mb": OBJ,
    "AppSpec.name": "the Serve application's name",
    "AppSpec.route_prefix": "the HTTP route prefix the app is served under",
    "AppSpec.args": "arguments passed to the app builder of `import_path`",
    "AppSpec.builtin": "the built-in configurable app: latency, CPU work, errors, payload, startup delay",
    "AppSpec.deployments": "per-deployment overrides, as in a Serve config file",
    "AppSpec.ready_timeout_s": "seconds the app may take to be RUNNING before the run ends with exit 3",
    "BuiltinAppSpec.latency": "how long each request takes (a distribution)",
    "BuiltinAppSpec.cpu_work_ms": "CPU time each request burns, in ms",
    "BuiltinAppSpec.error_rate": "share of requests answered with an error (0 to 1)",
    "BuiltinAppSpec.payload_bytes": "size of each response body",
    "BuiltinAppSpec.startup_delay_s": "seconds each replica takes to start",
    "BuiltinAppSpec.leak_kb_per_request": ("KB each replica keeps for good per request: a seeded memory leak "
                                           "(memory_growth blocks it)"),
    "LatencySpec.distribution": "fixed, uniform, exponential or lognormal",
    "DeploymentSpec.name": "the deployment to override",
    "DeploymentSpec.num_replicas": "a fixed replica count (or autoscaling_config)",
    "DeploymentSpec.autoscaling_config": "Serve's replica autoscaling (min/max replicas, target ongoing requests, delays)",
    "DeploymentSpec.max_ongoing_requests": "requests one replica handles at once",
    "DeploymentSpec.max_queued_requests": "requests a caller queues beyond that before 503s (-1: no bound)",
    "DeploymentSpec.graceful_shutdown_wait_loop_s": "a stopping replica's wait between checks for requests still in flight (Serve's default 2 s)",
    "DeploymentSpec.graceful_shutdown_timeout_s": "how long a stopping replica may drain before it is killed (Serve's default 20 s)",
    "DeploymentSpec.ray_actor_options": "resources each replica needs (num_cpus, num_gpus, custom resources)",
    "AutoscalingSpec.min_replicas": "fewest replicas",
    "AutoscalingSpec.max_replicas": "most replicas",
    "AutoscalingSpec.initial_replicas": "replicas at deploy time (default: min_replicas)",
    "AutoscalingSpec.target_ongoing_requests": "ongoing requests per replica the autoscaler aims for",
    "AutoscalingSpec.metrics_interval_s": "how often replicas report their load",
    "AutoscalingSpec.look_back_period_s": "the window the autoscaler averages the load over",
    "AutoscalingSpec.upscale_delay_s": "how long the load must stay high before replicas are added",
    "AutoscalingSpec.downscale_delay_s": "how long the load must stay low before replicas are removed",
    "AutoscalingSpec.upscaling_factor": "multiplies each upscaling decision",
    "AutoscalingSpec.downscaling_factor": "multiplies each downscaling decision",
    "ActorOptions.num_cpus": "CPUs each replica needs",
    "ActorOptions.num_gpus": "GPUs each replica needs",
    "ActorOptions.resources": "custom resources each replica needs, e.g. {A100: 0.5}",
    "LoadSpec.model": "closed (users send, wait for the answer, then wait wait_ms) or open (arrivals at `rate`)",
    "LoadSpec.spawn_rate": "users started per second (closed model)",
    "LoadSpec.wait_ms": "each user's wait between requests (closed model)",
    "LoadSpec.arrivals": "open model: poisson (exponential gaps) or uniform arrivals",
    "LoadSpec.max_lag_ms": "open model: a send more than this late is dropped, not made",
    "LoadSpec.max_dropped": "open model: more dropped sends make the load invalid (exit 3)",
    "LoadSpec.shape": "how the level changes over the run: constant, stages, burst, ramp, sine or trace",
    "LoadSpec.path": "the path each request goes to (under the app's route prefix) without load.requests",
    "LoadSpec.method": "the HTTP method without load.requests",
    "LoadSpec.request_timeout_s": "seconds before a request counts as a timeout",
    "LoadSpec.retry": "client retries with exponential backoff and seeded jitter",
    "LoadSpec.start_timeout_s": "seconds the load processes may take to start",
    "LoadSpec.user_class": "your own Locust HttpUser/FastHttpUser, 'module:Class' (imported from the scenario's folder, the working folder or PYTHONPATH)",
    "ConstantShape.kind": "constant: the level of load.users / load.rate throughout",
    "StagesShape.kind": "stages: one level after another",
    "StagesShape.stages": "the stages, in order",
    "Stage.duration_s": "how long the stage lasts",
    "Stage.users": "users during the stage (closed model)",
    "Stage.rate": "requests per second during the stage (open model)",
    "Stage.spawn_rate": SPAWN,
    "Stage.name": "a window name for the stage (SLOs can judge it)",
    "BurstShape.kind": "burst: a baseline with bursts to a peak",
    "BurstShape.baseline": "the level between bursts: " + LEVEL,
    "BurstShape.peak": "the level during a burst: " + LEVEL,
    "BurstShape.start_s": "seconds after load start of the first burst",
    "BurstShape.burst_s": "how long each burst lasts",
    "BurstShape.every_s": "seconds between burst starts (with count > 1)",
    "BurstShape.count": "how many bursts (windows burst-1, burst-2, ...)",
    "BurstShape.spawn_rate": SPAWN,
    "RampShape.kind": "ramp: from one level to another, then hold",
    "RampShape.from_": "the starting level: " + LEVEL,
    "RampShape.to": "the level reached and held: " + LEVEL,
    "RampShape.ramp_s": "seconds the ramp takes",
    "RampShape.spawn_rate": SPAWN,
    "SineShape.kind": "sine: a daily-traffic-like wave",
    "SineShape.mean": "the wave's middle level: " + LEVEL,
    "SineShape.amplitude": "how far the wave swings above and below the mean",
    "SineShape.period_s": "seconds of one full wave",
    "SineShape.noise_every_s": "seconds between redraws of the noise",
    "SineShape.spawn_rate": SPAWN,
    "TraceShape.kind": "trace: replay of (offset, level) rows",
    "TraceShape.points": "the rows inline, instead of a csv file",
    "TraceShape.spawn_rate": SPAWN,
    "TracePoint.offset_s": "seconds after load start the level begins",
    "TracePoint.level": LEVEL,
    "TracePoint.name": "a window name from this row to the next",
    "RetrySpec.on_status": "HTTP statuses that are retried",
    "RetrySpec.on_conn_error": "retry when the connection fails",
    "RetrySpec.on_timeout": "retry when the request times out",
    "RetrySpec.multiplier": "each backoff is this many times the previous",
    "RetrySpec.max_backoff_ms": "longest backoff between attempts",
    "RequestSpec.name": "the request's name: records carry it, SLOs select it with `request: NAME`",
    "RequestSpec.weight": "how often it is picked relative to the others",
    "RequestSpec.method": "the HTTP method",
    "RequestSpec.app": "the Serve app whose route prefix the path is under (or give a full path)",
    "RequestSpec.path": "the path, under the app's route prefix",
    "RequestSpec.headers": "HTTP headers to send",
    "RequestSpec.body_template": "a JSON body whose fields are drawn from the seed: {choice|int|float|line_of|value: ...}",
    "RequestSpec.expect_status": "the status (or list) that counts as success; default any 2xx/3xx",
    "SLOSpec.check": "the check, like a k6 threshold: `<metric> <op> <bound>` (docs/metrics.md lists the metrics)",
    "SLOSpec.name": "the SLO's name (JUnit testcase, report); default: the check",
    "TasksWorkloadSpec.type": "tasks: many small Ray tasks with retries",
    "TasksWorkloadSpec.name": "the workload's name (SLOs name it)",
    "TasksWorkloadSpec.num_tasks": "how many tasks to submit",
    "TasksWorkloadSpec.num_cpus": "CPUs each task needs",
    "TasksWorkloadSpec.max_retries": "Ray's max_retries for each task (-1: forever)",
    "ActorsWorkloadSpec.type": "actors: restartable actors that must lose no acknowledged message",
    "ActorsWorkloadSpec.name": "the workload's name (SLOs name it)",
    "ActorsWorkloadSpec.num_actors": "how many relay actors",
    "ActorsWorkloadSpec.spread_s": "messages are spread over this many seconds (unset: the scenario's duration)",
    "ActorsWorkloadSpec.num_cpus": "CPUs each actor needs",
    "ActorsWorkloadSpec.max_restarts": "Ray's max_restarts for each actor (-1: forever)",
    "ActorsWorkloadSpec.max_task_retries": "Ray's max_task_retries for each actor call (-1: forever)",
    "ActorsWorkloadSpec.call_timeout_s": "seconds one actor call may take",
    "ActorsWorkloadSpec.timeout_s": "seconds the whole workload may take",
    "ScriptWorkloadSpec.type": "script: any Python driver script, run with RAY_ADDRESS set",
    "ScriptWorkloadSpec.name": "the workload's name (SLOs name it)",
    "ScriptWorkloadSpec.path": "the script (relative to the scenario file's folder)",
    "ScriptWorkloadSpec.args": "its command-line arguments",
    "ScriptWorkloadSpec.env": "extra environment variables for it",
    "ScriptWorkloadSpec.timeout_s": "seconds it may run",
    "RecorderSpec.retries": "attempts per sample before it is recorded as failed",
    "RecorderSpec.memory": ("sample the resident memory of the run's processes by role and the object "
                            "store's use per node (memory_growth, peak_memory)"),
    "HostGuardSpec.enabled": "watch this machine's CPU and memory at all",
    "HostGuardSpec.memory_percent": "the whole machine's memory use that counts as saturated",
    "HostGuardSpec.interval_s": "seconds between checks",
    "ChaosSpec.faults": "the faults, each with its schedule and targets",
    "FaultSpec.schedule": "when it fires, in seconds after load starts",
    "FaultSpec.batch_size": "targets hit at each shot",
    "FaultSpec.targets": "which nodes, deployments or processes it may hit",
    "ScheduleSpec.at_s": "fixed offsets",
    "ScheduleSpec.every_s": "a shot every this many seconds",
    "ScheduleSpec.start_s": "no shot before this offset",
    "ScheduleSpec.count": "at most this many shots",
    "HealthSpec.check_interval_s": "seconds between the health checks",
}


@cache
def source_comments(model: type[BaseModel]) -> dict[str, str]:
    """field -> the comment on its line or the comment block right above it."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if not text.startswith(("noqa", "type:")):
                comments[token.start[0]] = text
    found: dict[str, str] = {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            inline = [comments[line] for line in range(node.lineno, node.end_lineno + 1) if line in comments]
            above, line = [], node.lineno - 1
            while line in comments and source.splitlines()[line - 1].lstrip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            text = " ".join(above + inline).strip()
            if text:
                found[node.target.id] = text
    return found


def field_doc(model: type[BaseModel], name: str) -> str:
    return DOCS.get(f"{model.__name__}.{name}") or source_comments(model).get(name, "")


def file_keys(model: type[BaseModel]) -> dict[str, Any]:
    """The fields a scenario file may hold (not the ones the loader fills, e.g. app.serve_config)."""
    return {name: info for name, info in model.model_fields.items() if not info.exclude}


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model the root's fields reach, root first, each once."""
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for info in model.model_fields.values():
            for kind in _inner(info.annotation):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    visit(kind)

    visit(root)
    return seen


def _inner(annotation: Any) -> list[Any]:
    out = [annotation]
    for arg in typing.get_args(annotation):
        out += _inner(arg)
    return out


def describe(schema: dict[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema with every property's description filled from the field docs."""
    by_title = {m.__name__: m for m in models(root)}
    targets = [(root, schema), *((by_title[name], body) for name, body in (schema.get("$defs") or {}).items()
                                 if name in by_title)]
    for model, body in targets:
        aliases = {info.alias or name: name for name, info in model.model_fields.items()}
        for prop, spec in (body.get("properties") or {}).items():
            text = field_doc(model, aliases.get(prop, prop))
            if text and isinstance(spec, dict) and not spec.get("description"):
                spec["description"] = text
    return schema


def reference_markdown(root: type[BaseModel]) -> str:
    """docs/scenario-reference.md: one table per section, from the same docs as the schema."""
    lines = ["# Scenario reference", "",
             "Every key of a scenario file, section by section, with the text `harness schema` gives",
             "editors for it (generated from the models' field docs: `python -m harness.scenario.field_docs`).",
             "How the sections fit together: [scenarios-and-slos.md](scenarios-and-slos.md).", ""]
    for model in models(root):
        lines += [f"## {model.__name__}", ""]
        doc = inspect.getdoc(model)
        if doc and model.__doc__ and model.__doc__ is not BaseModel.__doc__:
            lines += [" ".join(doc.split()), ""]
        lines += ["| key | default | what |", "| --- | --- | --- |"]
        for name, info in file_keys(model).items():
            value = None if info.is_required() else info.get_default(call_default_factory=True)
            if info.is_required():
                default = "required"
            elif isinstance(value, BaseModel):
                default = "its section's defaults"
            else:
                default = f"`{value!r}`"
            cells = [f"`{info.alias or name}`", default, field_doc(model, name)]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    from harness.model.scenario import Scenario

    print(reference_markdown(Scenario), end="")
