"""`load.placement: cluster`: Locust workers started by Ray actors across the cluster's nodes.

The master stays in the harness's Locust process; each worker k of N runs as the
child of a `LoadWorker` actor (harness.load.actor, 0 CPU) pinned to its own node.
Placement is a spread over distinct nodes, fixed before the actors start: worker
nodes in the cluster's order, the head last, only nodes offering
`load.node_resource` when set; fewer such nodes than workers is a config error.

Each worker sends to the Serve proxy on its own node (`load.target: node_proxy`) when
that proxy can be addressed alone, else to the head's, with a `load_worker` record
saying why. Records come back by pulling batches from the actors (no shared
filesystem assumed); each batch is appended to the run's timeline
(`requests-w<k>.jsonl`) as it arrives, and the count received is checked against the
count the worker reports at quit. A worker whose actor dies (its node died) is
`lost`: reported on the timeline, and `load.on_worker_loss` decides what follows.
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.load.actor import boot_id
from harness.measure.records import LoadWorkerEvent
from harness.measure.timeline import TIMELINE_DIR, TimelineWriter
from harness.model.node_info import NodeInfo
from harness.model.worker_placement import Placement, plan_placement
from harness.procs.ledger import ProcessLedger

PULL_S = 0.25  # how often the harness pulls each worker's new records
CALL_TIMEOUT_S = 10.0  # one actor call; longer: the worker is unreachable
UNREACHABLE_LOST_S = 20.0  # unreachable this long (no answer, no death notice): lost
PROXY_WAIT_S = 15.0  # wait this long for the proxies on the workers' nodes to be healthy


@dataclass(frozen=True)
class Target:
    url: str
    node: str | None  # the node whose proxy serves this worker's requests; None: not knowable
    note: str | None = None  # why not the worker's own node's proxy


def alive_nodes(handle: Any) -> list[NodeInfo]:
    """The cluster's alive nodes as Ray lists them, named as the scenario names them."""
    import ray

    names = {n.node_id: name for name, n in (handle.nodes.items() if handle is not None else [])}
    head_ids = {n.node_id for n in (handle.nodes.values() if handle is not None else []) if n.is_head}
    out = []
    for row in ray.nodes():
        if not row.get("Alive"):
            continue
        node_id = row["NodeID"]
        is_head = node_id in head_ids or bool(row.get("Resources", {}).get("node:__internal_head__"))
        name = names.get(node_id) or row.get("NodeName") or node_id[:8]
        out.append(NodeInfo(name=name, resources=dict(row.get("Resources", {})), is_head=is_head, node_id=node_id,
                            ip=row.get("NodeManagerAddress", "127.0.0.1")))
    order = list(names.values())
    return sorted(out, key=lambda n: (order.index(n.name) if n.name in order else len(order), n.node_id))


def resolve_targets(
    placements: list[Placement], target: str, head_url: str, head_name: str | None,
    proxy_urls: dict[str, str], healthy_proxies: set[str], rerouted: bool, no_url_reason: str,
) -> list[Target]:
    """Where each worker sends. proxy_urls: node name -> the URL of that node's own proxy;
    healthy_proxies: node ids whose proxy Serve reports healthy."""
    out = []
    for placement in placements:
        node = placement.node
        if target == "head" or node.is_head:
            out.append(Target(head_url, head_name))
        elif rerouted:
            out.append(Target(head_url, head_name, "the run reroutes load through a fault proxy: "
                                                   "every worker sends to it"))
        elif node.name not in proxy_urls:
            out.append(Target(head_url, head_name, f"{no_url_reason}: sending to the head's proxy"))
        elif node.node_id not in healthy_proxies:
            out.append(Target(head_url, head_name, f"no healthy Serve proxy on node {node.name} (Serve runs "
                                                   "proxies only on nodes with replicas): sending to the head's"))
        else:
            out.append(Target(proxy_urls[node.name], node.name))
    return out


def place_workers(ctx: Any, spec: Any, node_proxies: bool) -> ClusterWorkers:
    """Plan the workers on the cluster's alive nodes and pick each one's proxy.

    node_proxies: Serve runs a proxy on every node with replicas, each worker node of this
    local cluster on its own port. Raises PlacementError when the nodes do not suffice."""
    cluster = ctx.cluster
    nodes = alive_nodes(cluster)
    placements = plan_placement(nodes, spec.workers, spec.node_resource)
    head = next((n for n in nodes if n.is_head), None)
    shared_host = head is not None and any(n.ip == head.ip for n in nodes if not n.is_head)
    # On a cluster the harness did not start, proxies of nodes on the head's host share its port.
    head_name = head.name if head is not None and (cluster.owned or not shared_host) else None
    if node_proxies:
        proxy_urls = {name: f"http://127.0.0.1:{port}" for name, port in cluster.proxy_ports.items()}
        reason = "its proxy has no port of its own"
    elif not cluster.owned:
        ips = [n.ip for n in nodes]
        proxy_urls = {n.name: f"http://{n.ip}:{ctx.http_port}" for n in nodes if ips.count(n.ip) == 1}
        reason = "nodes sharing a host share one proxy port (which node answers is not knowable)"
    else:
        proxy_urls = {}
        reason = "Serve runs one proxy, on the head, on this cluster (a suite's shared or an autoscaling one)"
    wanted = {p.node.node_id for p in placements if not p.node.is_head and p.node.name in proxy_urls}
    healthy = healthy_proxy_nodes(wanted) if spec.target == "node_proxy" and wanted else set()
    targets = resolve_targets(placements, spec.target, ctx.load_url, head_name, proxy_urls, healthy,
                              rerouted=ctx.load_url != ctx.app_url, no_url_reason=reason)
    workers = ClusterWorkers(placements=placements, targets=targets, timeline_dir=ctx.run_dir / TIMELINE_DIR,
                             events=ctx.timeline, ledger=ctx.ledger)
    workers.master_host = ray_node_ip()  # the workers dial the master from their nodes
    return workers


def ray_node_ip() -> str:
    """This driver's node address as Ray knows it (127.0.0.1 on a local cluster)."""
    import ray

    return str(ray.util.get_node_ip_address())


def healthy_proxy_nodes(wanted: set[str], timeout_s: float = PROXY_WAIT_S) -> set[str]:
    """Node ids whose Serve proxy is HEALTHY, waiting up to timeout_s for all of `wanted`."""
    from ray.serve.context import _get_global_client

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            proxies = _get_global_client().get_serve_details().get("proxies") or {}
        except Exception:  # Serve's state unreadable: no proxy is known healthy (fallback, with a note)
            return set()
        healthy = {node_id for node_id, p in proxies.items() if str(p.get("status")) in ("HEALTHY", "ProxyStatus.HEALTHY")}
        if wanted <= healthy or time.monotonic() > deadline:
            return healthy
        time.sleep(0.5)


@dataclass(kw_only=True)
class _Worker:
    placement: Placement
    target: Target
    actor: Any
    stream: TimelineWriter  # this worker's requests-w<k>.jsonl
    received: int = 0
    done: bool = False
    lost: str | None = None  # why
    unreachable_since: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.placement.worker


class ClusterWorkers:
    """The actors of one run's cluster-placed workers, and the pump that streams their records."""

    def __init__(self, *, placements: list[Placement], targets: list[Target], timeline_dir: Path,
                 events: TimelineWriter, ledger: ProcessLedger):
        self.placements = placements
        self.targets = targets
        self.timeline_dir = timeline_dir
        self.events = events
        self.ledger = ledger
        self.workers: list[_Worker] = []
        self.master_host = "127.0.0.1"  # where the Locust master listens for these workers
        self._losses: list[str] = []
        self._reported = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._thread: threading.Thread | None = None

    # -- start --------------------------------------------------------------

    def start(self, config: dict[str, Any], master: str, master_port: int, user_class: str,
              locustfile: str, project_root: str, env: dict[str, str], timeout_s: float) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from harness.load.actor import LoadWorker

        actor_cls = ray.remote(num_cpus=0, max_restarts=0)(LoadWorker)
        self.timeline_dir.mkdir(parents=True, exist_ok=True)
        for placement, target in zip(self.placements, self.targets, strict=True):
            actor = actor_cls.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(placement.node.node_id, soft=False),
                name=None,
            ).remote(index=placement.worker, config=config, locustfile=locustfile, project_root=project_root)
            path = self.timeline_dir / f"requests-w{placement.worker}.jsonl"
            self.workers.append(_Worker(placement=placement, target=target, actor=actor, stream=TimelineWriter(path)))
        refs = []
        for worker in self.workers:
            worker_env = {**env, "HARNESS_LOAD_TARGET": worker.target.url,
                          "HARNESS_LOAD_WORKER_NODE": worker.placement.node.name,
                          "HARNESS_LOAD_PROXY_NODE": worker.target.node or ""}
            refs.append(worker.actor.start.remote(master, master_port, user_class, worker_env))
        infos = ray.get(refs, timeout=timeout_s)
        here = boot_id()
        for worker, info in zip(self.workers, infos, strict=True):
            worker.info = info
            if info["boot_id"] == here:  # on this machine: the ledger (and the reaper) know it too
                self._record(info["pid"], info["create_time"])
            self.events.emit(LoadWorkerEvent, event="placed", worker=worker.index,
                             worker_node=worker.placement.node.name, node=worker.target.node,
                             target=worker.target.url, pid=info["pid"])
            if worker.target.note:
                self.events.emit(LoadWorkerEvent, event="target_fallback", worker=worker.index,
                                 worker_node=worker.placement.node.name, node=worker.target.node,
                                 reason=worker.target.note)
        self._thread = threading.Thread(target=self._pump, name="load-workers", daemon=True)
        self._thread.start()

    def _record(self, pid: int, create_time: float) -> None:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - create_time) < 0.01:
                self.ledger.add(proc)
        except psutil.Error:
            pass

    def notes(self) -> list[str]:
        """Why a worker does not send to its own node's proxy, for the verdict output (known before start)."""
        return [f"load worker {p.worker} (node {p.node.name}): {t.note}"
                for p, t in zip(self.placements, self.targets, strict=True) if t.note]

    # -- the pump -------------------------------------------------------------

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._pull_all()
            if self._draining.is_set() and all(w.done or w.lost for w in self.workers):
                return
            self._stop.wait(PULL_S)

    def _pull_all(self) -> None:
        import ray
        from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

        active = [w for w in self.workers if not (w.done or w.lost)]
        calls = [(w, w.actor.pull.remote()) for w in active]
        for worker, ref in calls:
            try:
                batch = ray.get(ref, timeout=CALL_TIMEOUT_S)
            except (GetTimeoutError, ActorUnavailableError) as exc:
                now = time.monotonic()
                worker.unreachable_since = worker.unreachable_since or now
                if now - worker.unreachable_since > UNREACHABLE_LOST_S:
                    self._lose(worker, f"unreachable for {UNREACHABLE_LOST_S:g}s ({type(exc).__name__})")
                continue
            except RayActorError as exc:
                self._lose(worker, f"its actor died ({_first_line(exc)})")
                continue
            worker.unreachable_since = None
            self._append(worker, batch["data"])
            worker.received += int(batch["lines"])
            if batch["done"]:
                worker.done = True
                if batch["exit"] not in (0, None) and not self._draining.is_set():
                    self._lose(worker, f"its Locust worker exited with code {batch['exit']} "
                                       f"({self._log_tail(worker)})")

    def _append(self, worker: _Worker, data: bytes) -> None:
        worker.stream.append_lines(data)
        error = worker.stream.write_error
        if error is not None and error.errno in (errno.ENOSPC, errno.EDQUOT) and self.events.write_error is None:
            self.events.write_error = error  # a full disk: the health guard names it

    def _log_tail(self, worker: _Worker) -> str:
        import ray

        try:
            return ray.get(worker.actor.log_tail.remote(), timeout=5) or "no output"
        except Exception:
            return "log unreadable"

    def _lose(self, worker: _Worker, why: str) -> None:
        if worker.lost:
            return
        worker.lost = why
        message = f"load worker {worker.index} on node {worker.placement.node.name} lost: {why}"
        self.events.emit(LoadWorkerEvent, event="lost", worker=worker.index,
                         worker_node=worker.placement.node.name, reason=why, received=worker.received)
        with self._lock:
            self._losses.append(message)

    # -- the runner's view ----------------------------------------------------

    def new_losses(self) -> list[str]:
        """Losses not handed out yet (the runner checks every tick)."""
        with self._lock:
            fresh = self._losses[self._reported:]
            self._reported = len(self._losses)
        return fresh

    def losses(self) -> list[str]:
        with self._lock:
            return list(self._losses)

    def lost(self) -> list[int]:
        return [w.index for w in self.workers if w.lost]

    def alive_problem(self) -> str | None:
        """Before load starts: a worker already gone."""
        losses = self.losses()
        return losses[0] if losses else None

    # -- the end --------------------------------------------------------------

    def finish(self, timeout_s: float) -> None:
        """Pull until every worker has quit and everything it wrote arrived; then end the actors."""
        import ray

        self._draining.set()
        deadline = time.monotonic() + timeout_s
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stragglers = [w for w in self.workers if not (w.done or w.lost)]
        if stragglers:  # still running: end the child (it writes its report at quit), pull once more
            for worker in stragglers:
                try:
                    ray.get(worker.actor.stop.remote(), timeout=CALL_TIMEOUT_S)
                except Exception:
                    pass
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=CALL_TIMEOUT_S * 2)
            self._pull_all()
        self._stop.set()
        self.close()

    def close(self) -> None:
        """End every actor (its child goes with it) and close the streams; safe to call twice."""
        import ray

        self._stop.set()
        for worker in self.workers:
            if worker.actor is not None:
                try:
                    ray.get(worker.actor.cleanup.remote(), timeout=CALL_TIMEOUT_S)
                except Exception:
                    pass
                try:
                    ray.kill(worker.actor)
                except Exception:
                    pass
                worker.actor = None
            worker.stream.close()

    def count_problems(self, reports: dict[int, dict[str, Any]]) -> list[str]:
        """Per worker: records it says it wrote (+ its report) against records received."""
        problems = []
        for worker in self.workers:
            if worker.lost:
                continue
            report = reports.get(worker.index)
            if report is None:
                problems.append(f"load worker {worker.index} (node {worker.placement.node.name}) sent no "
                                f"report; {worker.received} records received")
                continue
            sent = int(report.get("records", -1)) + 1
            if sent != worker.received:
                problems.append(f"load worker {worker.index} (node {worker.placement.node.name}) wrote "
                                f"{sent} records, the harness received {worker.received}")
        return problems

    def counts(self) -> dict[str, dict[str, Any]]:
        """For summary.json: where each worker ran, what it targeted, what arrived."""
        return {str(w.index): {"worker_node": w.placement.node.name, "node": w.target.node,
                               "target": w.target.url, "received": w.received, "lost": w.lost}
                for w in self.workers}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
