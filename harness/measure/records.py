"""Every kind of timeline record, declared once: its fields, their types and what they mean.

Standard library only: the load process (locustfiles/, under gevent) imports this
module too, so it must never pull in ray, pydantic or anything else.

A kind is a class; each declared field becomes a class attribute holding its own
name, so writers and readers spell fields through the declaration:

    Request.new(t=sent, id=7, outcome="ok", latency_ms=3.2)     # a writer
    record.get(Request.latency_ms)                               # a reader

A field the declaration lacks is an AttributeError at the reader, and a problem at
the writer: raised when HARNESS_STRICT_RECORDS=1 (the unit tests set it), otherwise
kept by the writer and the record written whole (a run never loses data to this).
Every field is optional in a record; `None` means "not known".
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

STRICT_ENV = "HARNESS_STRICT_RECORDS"
EVENTS, REQUESTS = "events", "requests"  # the harness's stream; the load processes' streams

NUM = (int, float)
INT = (int,)
STR = (str,)
BOOL = (bool,)
LIST = (list, tuple)
DICT = (dict,)
ANY = (object,)


class UndeclaredRecord(ValueError):
    """A record of an undeclared kind, or with a field its kind does not declare."""


class Field:
    """One declared field: the types its value may have (or None) and what it means."""

    __slots__ = ("types", "doc", "name")

    def __init__(self, types: tuple[type, ...], doc: str):
        self.types = types
        self.doc = doc
        self.name = ""

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.types, "/".join(t.__name__ for t in self.types))


_TYPE_NAMES = {NUM: "number", INT: "int", STR: "str", BOOL: "bool", LIST: "list", DICT: "object", ANY: "any"}

KINDS: dict[str, type[Record]] = {}


class Record:
    """Base of every kind. Subclasses declare KIND, STREAMS, WRITER, DOC and Field attributes."""

    KIND: ClassVar[str]
    STREAMS: ClassVar[tuple[str, ...]] = (EVENTS,)
    WRITER: ClassVar[str] = ""
    DOC: ClassVar[str] = ""
    # Set on kinds whose writers add fields of their own (a workload's numbers): says which.
    OPEN: ClassVar[str | None] = None
    FIELDS: ClassVar[dict[str, Field]] = {}
    # Fields of every record.
    t = "t"
    kind = "kind"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for name, value in list(vars(cls).items()):
            if isinstance(value, Field):
                value.name = name
                fields[name] = value
                setattr(cls, name, name)  # readers and writers spell the field through the class
        cls.FIELDS = fields
        if cls.KIND in KINDS:
            raise TypeError(f"record kind {cls.KIND!r} declared twice")
        KINDS[cls.KIND] = cls

    @classmethod
    def new(cls, t: float | None = None, **fields: Any) -> dict[str, Any]:
        """A record of this kind, its fields checked against the declaration."""
        return check({"t": time.time() if t is None else t, "kind": cls.KIND, **fields})


def strict() -> bool:
    return os.environ.get(STRICT_ENV) == "1"


def problems(record: dict[str, Any]) -> list[str]:
    """What in a record its declaration does not allow (empty when all is declared)."""
    kind = record.get("kind")
    declared = KINDS.get(kind) if isinstance(kind, str) else None
    if declared is None:
        return [f"undeclared record kind {kind!r} (declared: {', '.join(sorted(KINDS))})"]
    out = []
    if not isinstance(record.get("t"), NUM):
        out.append(f"{kind}: 't' must be a number, got {record.get('t')!r}")
    for name, value in record.items():
        if name in ("t", "kind"):
            continue
        field = declared.FIELDS.get(name)
        if field is None:
            if declared.OPEN is None:
                out.append(f"{kind}: undeclared field {name!r}")
        elif value is not None and not isinstance(value, field.types):
            out.append(f"{kind}.{name}: expected {field.type_name}, got {type(value).__name__}")
    return out


def check(record: dict[str, Any]) -> dict[str, Any]:
    """The record itself; in strict mode, UndeclaredRecord when it is not as declared."""
    if strict():
        found = problems(record)
        if found:
            raise UndeclaredRecord("; ".join(found))
    return record


# -- the load process's streams (requests.jsonl, requests-w<k>.jsonl) ------------------


class Request(Record):
    KIND = "request"
    STREAMS = (REQUESTS,)
    WRITER = "load process"
    DOC = ("one attempt of one request; `t` is the request's intended send time "
           "(every attempt of a request shares it)")
    id = Field(INT, "the request's number in its process")
    name = Field(STR, "the request of the mix; `default`; a user class's Locust name; `task:<name>`")
    attempt = Field(INT, "1-based attempt number")
    final = Field(BOOL, "the last attempt of its request: the outcome the client saw")
    latency_ms = Field(NUM, "from `t` to the end of this attempt (final: retries and backoff included)")
    attempt_ms = Field(NUM, "this attempt alone")
    lag_ms = Field(NUM, "open model: real first send minus intended")
    status = Field(INT, "HTTP status; 0: no HTTP answer")
    outcome = Field(STR, "ok / shed (503) / error / timeout / conn_error")
    bytes = Field(INT, "response size")
    error = Field(STR, "what went wrong, when anything did")
    user_error = Field(BOOL, "a user class's task raised (the record stands for the task)")
    worker = Field(INT, "the Locust worker that sent it (workers only)")
    worker_node = Field(STR, "placement cluster: the node the worker ran on")
    node = Field(STR, "placement cluster: the node whose Serve proxy served it (null: not knowable)")


class Dropped(Record):
    KIND = "dropped"
    STREAMS = (REQUESTS,)
    WRITER = "load process (open model)"
    DOC = "a send the generator could not make on time; `t` is its intended send time"
    id = Field(INT, "the send's index in the schedule")
    name = Field(STR, "the request it would have been")
    reason = Field(STR, "late (more than max_lag_ms behind) / in_flight (max_in_flight outstanding)")
    lag_ms = Field(NUM, "how far behind the sender was")
    worker = Field(INT, "the Locust worker (workers only)")


class LoadReport(Record):
    KIND = "load_report"
    STREAMS = (REQUESTS,)
    WRITER = "load process, once at quit"
    DOC = "what one load process did; read back for the run's validity (load_invalid)"
    role = Field(STR, "standalone / master / worker")
    worker = Field(INT, "worker number (0: not a worker)")
    model = Field(STR, "closed / open")
    requests = Field(INT, "final requests made")
    attempts = Field(INT, "attempts made (retries included)")
    by_outcome = Field(DICT, "final requests by outcome")
    scheduled = Field(INT, "open model: sends scheduled")
    sent = Field(INT, "open model: sends made")
    dropped = Field(INT, "open model: sends dropped")
    dropped_by_reason = Field(DICT, "open model: dropped sends by reason")
    max_lag_ms = Field(NUM, "open model: the sender's worst lag")
    records = Field(INT, "records this process wrote before this one (what the harness must receive)")
    cpu_s = Field(NUM, "this process's CPU seconds: the generator's cost per request")


class LoadWorkerEvent(Record):
    KIND = "load_worker"
    WRITER = "harness.load.cluster_workers (placement cluster)"
    DOC = "a Locust worker run by a Ray actor: where it was placed, a target fallback, its loss"
    event = Field(STR, "placed / target_fallback / lost")
    worker = Field(INT, "the worker's number")
    worker_node = Field(STR, "the node it runs on")
    node = Field(STR, "the node whose Serve proxy it sends to (null: the head's, or not knowable)")
    target = Field(STR, "placed: the URL it sends to")
    pid = Field(INT, "placed: the Locust worker process's pid")
    reason = Field(STR, "target_fallback / lost: why")
    received = Field(INT, "lost: records received from it until then")


# -- both: windows -----------------------------------------------------------------------


class Phase(Record):
    KIND = "phase"
    STREAMS = (EVENTS, REQUESTS)
    WRITER = "runner, chaos watcher, workloads; load process (the load's windows)"
    DOC = "one edge of a named window (`run`, `load`, `fault-1`, a workload, a shape's window)"
    name = Field(STR, "the window's name")
    edge = Field(STR, "start / end")
    source = Field(STR, "`load`: a window of the load's shape, stamped at its scheduled time")
    shape = Field(STR, "the load's shape kind (load windows)")
    run_id = Field(STR, "`run` start: the run's id")
    seed = Field(INT, "`run` start: the run's seed")
    nodes = Field(LIST, "`cluster_start` end: the nodes started")
    ready_after_s = Field(NUM, "`app_deploy` end: seconds until the app answered")
    workloads = Field(LIST, "`workloads` start: the workloads driven")
    workload = Field(STR, "a workload's window: its class")
    fault = Field(STR, "a fault's window (`fault-N`): the fault's name")


# -- the harness's stream (events.jsonl) ---------------------------------------------------


class Sample(Record):
    KIND = "sample"
    WRITER = "harness.run.recorder"
    DOC = "Serve and cluster state, every recorder.interval_s; `t` is when Serve answered"
    app_status = Field(STR, "RUNNING when every app runs, else the first other status")
    apps = Field(DICT, "several apps: each app's status")
    deployments = Field(DICT, "per deployment (`App/Deployment` with several apps): `status`, `replicas` "
                              "by state, `running`, `total` (all but STOPPING), `target`, "
                              "`min_replicas`, `max_replicas`")
    poll_ms = Field(NUM, "how long the poll took")
    nodes_alive = Field(INT, "Ray nodes alive")
    nodes_dead = Field(INT, "Ray nodes dead")
    alive_node_ids = Field(LIST, "ids of the nodes alive")
    total_resources = Field(DICT, "ray.cluster_resources()")
    available_resources = Field(DICT, "ray.available_resources()")


class Memory(Record):
    KIND = "memory"
    WRITER = "harness.run.memory_sampler (the recorder's rounds)"
    DOC = ("resident memory (RSS) of every process the run owns, by role, and object-store use per node, "
           "every recorder.interval_s; MB are 10^6 bytes")
    roles = Field(DICT, "per role (driver, gcs, raylet, agent, serve_controller, proxy, replica, worker, load, "
                        "other): `mb` summed over its processes, `n` processes, `max_mb` the largest one")
    deployments = Field(DICT, "per deployment (`App/Deployment` with several apps): the same over its replicas")
    object_store = Field(DICT, "per node name: MB in use in its object store")
    sample_ms = Field(NUM, "what the sample cost the recorder")


class SampleError(Record):
    KIND = "sample_error"
    WRITER = "harness.run.recorder, harness.run.node_recorder"
    DOC = "a poll that failed after its retries (never fatal)"
    error = Field(STR, "the exception")
    source = Field(STR, "`nodes`: the node recorder's poll")


class RayMetrics(Record):
    KIND = "ray_metrics"
    WRITER = "harness.run.ray_scrape"
    DOC = ("one scrape of one Ray node's Prometheus endpoint (127.0.0.1, the run's own nodes), every "
           "recorder.interval_s while an SLO reads Ray's metrics; `t` is when the answer came")
    node = Field(STR, "the node scraped")
    port = Field(INT, "its metrics export port")
    samples = Field(LIST, "[name, labels, value] of each sample of the families kept (the families SLOs name)")
    families = Field(LIST, "every family the endpoint exported: on the first scrape and whenever the set changed")
    scrape_ms = Field(NUM, "how long the scrape and its parse took")
    error = Field(STR, "the scrape failed: why")


class Nodes(Record):
    KIND = "nodes"
    WRITER = "harness.run.node_recorder (autoscaling clusters)"
    DOC = "the autoscaler's view of worker nodes"
    types = Field(DICT, "per node type: `alive`, `pending`, `terminating`")
    demand = Field(LIST, "unmet resource demand: [shape, count] pairs")
    unmet = Field(BOOL, "some demand is unmet")
    refused = Field(INT, "launches the provider refused (node cap)")
    wanted_max = Field(INT, "most nodes the autoscaler asked for at once")
    node_cap = Field(INT, "the provider's node cap")
    autoscaler = Field(DICT, "the autoscaler's report: `active`, `pending_launches`, `failed`, `updated_t`")


class NodeTypes(Record):
    KIND = "node_types"
    WRITER = "harness.run.node_recorder, at start"
    DOC = "the scenario's node types: the floors and ceilings node SLOs default to"
    min_workers = Field(DICT, "per node type")
    max_workers = Field(DICT, "per node type")
    node_cap = Field(INT, "the resolved node cap")


class AutoscalerException(Record):
    KIND = "autoscaler_exception"
    WRITER = "harness.run.node_recorder, at stop"
    DOC = "an exception line of the autoscaler monitor's log"
    line = Field(STR, "the line")
    log = Field(STR, "the log file's name")


class Host(Record):
    KIND = "host"
    WRITER = "harness.run.host_guard.HostGuard"
    DOC = "the host, on the runner's tick (only the bounds the scenario sets)"
    cpu_percent = Field(NUM, "host CPU")
    memory_percent = Field(NUM, "host memory")
    own_memory_mb = Field(NUM, "RSS of the run's own processes")


class HostGuardRecord(Record):
    KIND = "host_guard"
    WRITER = "harness.run.host_guard.HostGuard, harness.run.node_recorder.NodeGuard"
    DOC = "a host or node-cap bound held too long: the run ends as `host_guard`"
    tripped = Field(STR, "the bound (`cpu_percent`, ..., `node_cap`)")
    value = Field(NUM, "the value measured")
    bound = Field(NUM, "the bound")
    held_s = Field(NUM, "how long it held")
    refused = Field(INT, "node cap: launches refused")


class Chaos(Record):
    KIND = "chaos"
    WRITER = "chaos.component, chaos.watch, chaos.killer"
    DOC = ("a fault shot's life: `event` injected / not_injected / skipped / noticed / not_noticed / "
           "cleaned / replaced / result (one per shot, repeating its outcome); unplanned (an entry "
           "whose schedule planned no shot); and proxy, prepare_failed, stuck, killer_ready / killer_run / "
           "killer_stop / killer_poll_error")
    id = Field(STR, "the shot (`fault-N`)")
    fault = Field(STR, "the fault's name")
    event = Field(STR, "what happened")
    outcome = Field(STR, "injected / refused / no_target / failed / skipped / not_reached")
    offset_s = Field(NUM, "result: planned offset from the origin")
    planned_t = Field(NUM, "when the shot was planned to fire")
    actual_t = Field(NUM, "when it fired")
    lag_ms = Field(NUM, "actual minus planned")
    wake_lag_ms = Field(NUM, "the scheduler's wake-up lag")
    kills_node = Field(BOOL, "the fault kills a node")
    targets = Field(LIST, "what it hit (node, pid, replica, actor ...)")
    detail = Field(STR, "why it was not injected, or more about it")
    reason = Field(STR, "skipped / not_reached: why")
    duration_s = Field(NUM, "how long the fault lasts before cleanup")
    noticed_t = Field(NUM, "when the cluster noticed")
    noticed_after_s = Field(NUM, "noticed minus injected")
    noticed = Field(STR, "how it was noticed")
    notice_errors = Field(INT, "failed notice polls")
    last_notice_error = Field(STR, "the last of them")
    cleaned_t = Field(NUM, "when cleanup ended")
    cleaned = Field(STR, "why and how it was cleaned")
    replaces = Field(STR, "replaced: the node replaced")
    node = Field(STR, "replaced: the new node's name")
    node_id = Field(STR, "replaced: the new node's id")
    proxy = Field(STR, "proxy: the fault proxy's URL")
    upstream_port = Field(INT, "proxy: the port it forwards to")
    entry = Field(INT, "prepare_failed, unplanned: the chaos entry")
    optional = Field(BOOL, "result, unplanned: the entry sets optional: true (not firing fails nothing)")
    capped = Field(BOOL, "result: not fired because of a limit the scenario set (chaos.max_to_kill, the "
                         "script's stop_run()): not a miss")
    threads = Field(LIST, "stuck: injection threads still running at stop")
    name = Field(STR, "killer_*: the ResourceKiller actor's name")
    namespace = Field(STR, "killer_ready: its namespace")


class WorkloadRecord(Record):
    KIND = "workload"
    WRITER = "harness.workloads.*"
    DOC = "a workload's `start`, `progress`, `process` (a script's pid) and one `result`"
    OPEN = "progress and result add the workload's own numbers (`ok`, `lost`, `exit_code` ...)"
    name = Field(STR, "the workload")
    event = Field(STR, "start / progress / process / result")
    timeout_s = Field(NUM, "start: its timeout")
    pid = Field(INT, "process: the script's pid")
    command = Field(ANY, "process: the script's command")
    passed = Field(BOOL, "result: whether it passed")
    why = Field(STR, "result: the cause of a failure")
    aborted = Field(BOOL, "result: cut short by the run's end")
    metrics = Field(DICT, "result of a script: the numbers of its TEST_OUTPUT_JSON")


class Error(Record):
    KIND = "error"
    WRITER = "harness.run.runner"
    DOC = "the infrastructure error that ended the run"
    error_kind = Field(STR, "the error's kind (exit 3): cluster_lost, load, host_guard, ...")
    message = Field(STR, "what happened")


class Abort(Record):
    KIND = "abort"
    WRITER = "harness.run.failfast"
    DOC = ("fail-fast: an SLO with `abort_on_fail` can no longer pass whatever the rest of its "
           "window brings; the run ends early (exit 1)")
    slo = Field(STR, "the SLO's name")
    check = Field(STR, "its check")
    reason = Field(STR, "why it cannot pass any more")
    decided_at_s = Field(NUM, "seconds since the load started")
    planned_s = Field(NUM, "the load's planned seconds")


class Teardown(Record):
    KIND = "teardown"
    WRITER = "harness.run.runner"
    DOC = "owned processes still alive after the cluster's shutdown, killed"
    killed_after_shutdown = Field(LIST, "their pids")


class LeftoversCleaned(Record):
    KIND = "leftovers_cleaned"
    WRITER = "harness.procs.reaper, at run start"
    DOC = "a dead run's processes this run cleaned up"
    line = Field(STR, "what was done, in one line")
    run = Field(STR, "the dead run's id")
    killed = Field(LIST, "pids killed")


def markdown_table() -> str:
    """The record table of docs/architecture.md, drawn from the declarations."""
    rows = ["| kind | stream | written by | fields |", "| --- | --- | --- | --- |"]
    for name, kind in KINDS.items():
        streams = ", ".join(f"`{s}`" for s in kind.STREAMS)
        fields = "; ".join(f"`{f.name}` ({f.type_name}) {f.doc}" for f in kind.FIELDS.values())
        if kind.OPEN:
            fields += f"; and more: {kind.OPEN}"
        rows.append(f"| `{name}` | {streams} | {kind.WRITER} | {kind.DOC}. {fields} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # the table for docs/architecture.md
    print(markdown_table(), end="")
