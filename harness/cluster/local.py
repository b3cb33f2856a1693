"""Cluster lifecycle: a local multi-node Ray cluster on loopback, and the driver's session.

A local cluster is started with ray.cluster_utils.Cluster, every node on
127.0.0.1, with a per-run temp dir (short: Ray puts Unix sockets in it) whose
logs are copied into the run's results at teardown. `LocalLease` is the one place
a cluster of one's own is started and stopped (a run's own, or a pool's shared
one): temp root, process environment, start; stop, logs, temp root. An existing
cluster (`cluster.address`) is harness.cluster.existing's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.cluster.lease import ClusterLease, LeaseSite, Released
from harness.files import copy_session_logs
from harness.model.cluster_handle import ClusterHandle, NodeHandle
from harness.model.scenario import ClusterSpec, NodeSpec
from harness.procs.ledger import ProcessLedger
from harness.pythonpath import python_path

LOOPBACK = "127.0.0.1"
MB = 1024 * 1024


class ClusterStartError(Exception):
    """The cluster did not come up: an infrastructure error, not a verdict."""


class PortConflict(ClusterStartError):
    """A port the run uses is served by a process this run does not own."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


# The environment variable Ray's autoscaler monitor reads for its metrics port (an autoscaling
# cluster's, harness.cluster.autoscaling_cluster: a local cluster here starts no monitor); its
# default, 44217, is one port for the whole machine.
MONITOR_PORT_ENV = "AUTOSCALER_METRIC_PORT"


def pin_loopback() -> None:
    """Keep this process's Ray on 127.0.0.1, even if ray was imported before the harness ran.

    Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import. A host that imported ray
    first (pytest collecting tests, a notebook, a user's own tooling) would have ray.init
    swap "127.0.0.1" for the machine's routable address, where no GCS of ours listens.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def refresh_ray_config() -> None:
    """Make this process's Ray re-read its environment before a new driver session.

    Ray caches its config (the auth mode among it) and the auth token per process. A
    session before, in the same process (a connection to a token-auth cluster, which
    switches the process to token mode), would leave this driver's own server demanding
    a token the run's cluster never sends; the GCS then takes every actor the driver
    creates for out of scope and drops it before it runs. Ray's tests reset the same way.
    """
    if "ray" not in sys.modules:
        return  # nothing cached yet
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray from before token auth: no such cache to refresh
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def prepare_driver() -> None:
    """What this process's Ray needs before each new driver session (start or connect)."""
    pin_loopback()
    refresh_ray_config()


def prepare_process_env(temp_root: Path, extra_python_path: list[str]) -> None:
    """Environment every Ray process of the run inherits (loopback: `prepare_driver`)."""
    # Ray writes ray_current_cluster under $RAY_TMPDIR/ray: keep it per run.
    os.environ["RAY_TMPDIR"] = str(temp_root)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Pin the auth mode of the run's own loopback cluster: left unset, Ray decides from
    # ~/.ray/auth_token, a file any other Ray on the machine may create or replace.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Workers must import the harness (the built-in app) and the user's app.
    os.environ["PYTHONPATH"] = python_path(*extra_python_path)


def port_listeners(ports: set[int]) -> dict[int, int | None]:
    """The pid listening on each of these TCP ports (None when psutil cannot tell)."""
    out: dict[int, int | None] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports:
            if out.get(conn.laddr.port) is None:
                out[conn.laddr.port] = conn.pid
    return out


def check_ports_owned(ports: dict[str, int], ledger: ProcessLedger) -> None:
    """Raise PortConflict if any port is served by a process this run does not own.

    Free ports are picked before the server binds them, so another process may take
    one in between; then the run must stop rather than talk to someone else's server.
    """
    if not ports:
        return
    ledger.snapshot_descendants()
    ours = {os.getpid(), *(p.pid for p in ledger.alive())}
    listeners = port_listeners(set(ports.values()))
    for component, port in sorted(ports.items()):
        pid = listeners.get(port)
        if pid is not None and pid not in ours:
            try:
                who = f"{psutil.Process(pid).name()} (pid {pid})"
            except psutil.Error:
                who = f"pid {pid}"
            raise PortConflict(
                f"port {port} ({component}) is served by {who}, which this run did not start; "
                f"another process took it: retry the run"
            )


def _node_starter(cluster: Any, temp_dir: Path, proxy_ports: dict[str, int]) -> Callable[[NodeSpec], NodeHandle]:
    """How the handle starts one more worker node (e.g. a replacement after a fault)."""

    def start(spec: NodeSpec) -> NodeHandle:
        ray_node = cluster.add_node(**_worker_node_args(spec, temp_dir, proxy_ports))
        return NodeHandle(name=spec.name, spec=spec, node_id=ray_node.node_id, is_head=False, ray_node=ray_node)

    return start


def _node_args(spec: NodeSpec, temp_dir: Path | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "num_cpus": spec.num_cpus,
        "num_gpus": spec.num_gpus,
        "object_store_memory": spec.object_store_mb * MB,
        "node_ip_address": LOOPBACK,
        "node_name": spec.name,
        # Each node's Prometheus endpoint on a port of its own (the agent binds 127.0.0.1 for a
        # loopback node): Ray's default port would collide between nodes and runs on this host.
        "metrics_export_port": free_port(),
    }
    if spec.resources:
        args["resources"] = dict(spec.resources)
    if temp_dir is not None:
        args["temp_dir"] = str(temp_dir)
    return args


def _worker_node_args(spec: NodeSpec, temp_dir: Path | None, proxy_ports: dict[str, int]) -> dict[str, Any]:
    """A worker node's args: its own Serve proxy port, used only when Serve runs a proxy per node."""
    proxy_ports[spec.name] = free_port()
    return {**_node_args(spec, temp_dir),
            "env_vars": {"RAY_SERVE_WORKER_PROXY_HTTP_PORT": str(proxy_ports[spec.name])}}


def fence_ray_init(reason: str) -> None:
    """Make ray.init() without an address fail fast in this process from now on.

    Ray APIs connect on their own when the driver is not connected (auto-init,
    Serve's client), and ray.init() without an address joins whatever cluster it
    finds on the machine. After teardown, a straggling poll would otherwise join
    another run's (or engineer's) cluster and keep this process alive. An explicit
    address still goes through: that is a deliberate choice of the caller.
    """
    import ray

    original = getattr(ray.init, "_unfenced", ray.init)

    def fenced(*args: Any, **kwargs: Any) -> Any:
        address = kwargs.get("address", args[0] if args else None)
        if address in (None, "", "auto"):
            raise RuntimeError(f"ray.init() without an address refused: {reason}")
        return original(*args, **kwargs)

    fenced._unfenced = original  # type: ignore[attr-defined]
    ray.init = fenced


def unfence_ray_init() -> None:
    import ray

    ray.init = getattr(ray.init, "_unfenced", ray.init)


def start_local_cluster(
    spec: ClusterSpec,
    ledger: ProcessLedger,
    temp_root: Path,
    on_connected: Callable[[], None] | None = None,
) -> ClusterHandle:
    """Start head and workers; on failure stop whatever started and raise ClusterStartError.

    The driver connects as soon as the head is up (Ray prefers the head among nodes on one
    address anyway); `on_connected` is called then, while the worker nodes still join.
    """
    prepare_driver()
    import ray
    from ray.cluster_utils import Cluster

    ray_temp = temp_root / "ray"
    ray_temp.mkdir(parents=True, exist_ok=True)
    head_spec, *worker_specs = spec.nodes
    head_args = _node_args(head_spec, ray_temp)
    head_args.update(
        include_dashboard=spec.dashboard,
        dashboard_host=LOOPBACK,
        # Default ports would collide with a second run (or cluster) on this machine.
        dashboard_agent_listen_port=free_port(),
        _system_config=dict(spec.system_config) or None,
        # No autoscaler monitor: a fixed local cluster has nothing for it to scale, and nothing of the
        # harness reads it (the node recorder runs on harness.cluster.autoscaling_cluster's clusters,
        # which start their own); it cost ~0.4 s of every start and ~0.4 s of every stop here.
        no_monitor=True,
    )
    if spec.dashboard:
        head_args["dashboard_port"] = free_port()
    handle = ClusterHandle(address="", owned=True, temp_dir=ray_temp)
    deadline = time.monotonic() + spec.start_timeout_s
    unfence_ray_init()
    try:
        cluster = Cluster(initialize_head=True, head_node_args=head_args)
        handle.backend = cluster
        handle.node_starter = _node_starter(cluster, ray_temp, handle.proxy_ports)
        handle.address = cluster.address
        head = cluster.head_node
        handle.nodes[head_spec.name] = NodeHandle(name=head_spec.name, spec=head_spec, node_id=head.node_id, is_head=True, ray_node=head)
        ledger.snapshot_descendants()
        ray.init(address=cluster.address, _node_ip_address=LOOPBACK, logging_level="WARNING", log_to_driver=False)
        if on_connected is not None:
            on_connected()
        # The worker nodes start together: each raylet registers while the next one starts (Ray's
        # default waits for each in turn); wait_for_nodes then waits for them all.
        for worker in worker_specs:
            if time.monotonic() > deadline:
                raise ClusterStartError(f"cluster did not start within {spec.start_timeout_s:g}s")
            ray_node = cluster.add_node(wait=False, **_worker_node_args(worker, ray_temp, handle.proxy_ports))
            handle.nodes[worker.name] = NodeHandle(name=worker.name, spec=worker, node_id=ray_node.node_id, is_head=False,
                                                   ray_node=ray_node)
            ledger.snapshot_descendants()
        cluster.wait_for_nodes(timeout=max(1.0, deadline - time.monotonic()))
        check_ports_owned(handle.ports(), ledger)  # also snapshots the ledger
    except ClusterStartError:
        stop_cluster(handle, ledger)
        raise
    except Exception as exc:  # Ray raises many types here; all mean "no cluster"
        stop_cluster(handle, ledger)
        raise ClusterStartError(f"cluster did not start: {type(exc).__name__}: {exc}") from exc
    except BaseException:  # interrupted or timed out half-way: stop what did start
        stop_cluster(handle, ledger)
        raise
    return handle


def stop_cluster(handle: ClusterHandle, ledger: ProcessLedger, timeout_s: float = 10.0,
                 steps: dict[str, float] | None = None) -> list[str]:
    """Disconnect, stop an owned cluster, then kill any recorded process still alive.

    Returns the names of processes that had to be killed after Ray's own shutdown.
    steps: filled with the seconds each step took.
    """
    import ray

    steps = steps if steps is not None else {}
    clock = _StepClock(steps)
    if handle.owned:
        # Record descendants while they are still ours: agents outlive their raylet.
        ledger.snapshot_descendants()
    # Fence first: a poll that fails while shutdown runs (seconds when the GCS is gone)
    # would otherwise reconnect on its own to whatever cluster it finds.
    fence_ray_init(f"the run's cluster at {handle.address} is shut down")
    try:
        ray.shutdown()
    except Exception:  # best effort: teardown must go on
        pass
    clock.lap("driver disconnect")
    if not handle.owned:
        return []
    if handle.backend is not None:
        try:
            _stop_nodes_together(handle.backend)
        except Exception:  # a head start on Ray's own shutdown, which follows whatever happened
            pass
        clock.lap("nodes stop together")
        try:
            handle.backend.shutdown()
            clock.lap("Ray's node-by-node shutdown")
        except Exception:
            pass
    # What survived Ray's own shutdown (node agents, deaf to SIGTERM, are SIGKILLed at once).
    survivors = ledger.kill_survivors(grace_s=min(0.5, timeout_s))
    clock.lap("survivors killed")
    return [f"{p.name}({p.pid})" for p in survivors]


class _StepClock:
    def __init__(self, steps: dict[str, float]):
        self.steps = steps
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self._last, 3)
        self._last = now


def _stop_nodes_together(backend: Any, grace_s: float = 1.0) -> None:
    """Stop every node's processes together, in Ray's order, before Ray's Cluster.shutdown().

    Cluster.shutdown() stops node after node and, on each, process after process, each with a
    SIGTERM and up to 1 s to exit. Here every raylet (the head's too: the driver is gone) gets
    its SIGTERM at once, then, once they are gone (up to grace_s), every other process but
    the GCS and the nodes' reapers (log monitor, agents, ...) at once;
    Cluster.shutdown() then finds them gone and stops the GCS and the reapers as it would have.
    """
    from ray._private import ray_constants

    nodes = [*list(getattr(backend, "worker_nodes", ())), getattr(backend, "head_node", None)]  # a Cluster's
    nodes = [n for n in nodes if n is not None]

    def alive(kinds: Any) -> list[Any]:
        out = []
        for node in nodes:
            for kind, infos in node.all_processes.items():
                if kinds(kind):
                    out += [i.process for i in infos if i.process is not None and i.process.poll() is None]
        return out

    raylet, last = ray_constants.PROCESS_TYPE_RAYLET, (ray_constants.PROCESS_TYPE_GCS_SERVER,
                                                       ray_constants.PROCESS_TYPE_REAPER)
    for group in (alive(lambda k: k == raylet), alive(lambda k: k != raylet and k not in last)):
        for process in group:
            process.terminate()
        deadline = time.monotonic() + grace_s
        for process in group:
            try:
                process.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass  # Cluster.shutdown() kills it


def copy_ray_logs(handle: ClusterHandle, dest: Path) -> None:
    """Copy the session logs of a local cluster into the run's results."""
    if handle.temp_dir is not None:
        copy_session_logs(handle.temp_dir, dest)


def make_temp_root(run_id: str) -> Path:
    # Unix socket paths are limited to ~107 bytes: keep the root short.
    return Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))


class LocalLease(ClusterLease):
    """A cluster of the holder's own on this machine: started at acquire, stopped at release."""

    kind = "local"

    def __init__(self, spec: ClusterSpec, python_path: list[str]):
        super().__init__()
        self.spec = spec
        self.python_path = python_path
        self.temp_root: Path | None = None
        self._on_connected: Callable[[], None] | None = None

    def _start(self, ledger: ProcessLedger, temp_root: Path) -> ClusterHandle:
        return start_local_cluster(self.spec, ledger, temp_root, self._on_connected)

    def acquire(self, site: LeaseSite) -> ClusterHandle:
        self.temp_root = make_temp_root(site.name)
        if site.watch is not None:
            with contextlib.suppress(OSError):  # unprotected against a SIGKILL only; release still sweeps
                site.watch.set_temp_root(self.temp_root)
        prepare_process_env(self.temp_root, self.python_path)
        self._on_connected = site.on_connected  # a start that does not call it: the holder does it after
        self.handle = self._start(site.ledger, self.temp_root)
        return self.handle

    def release(self, site: LeaseSite, failed: bool = False, keep_logs: bool = True) -> Released:
        out = Released()
        handle, self.handle = self.handle, None
        clock = _StepClock(out.steps)
        if handle is not None:
            out.killed = stop_cluster(handle, site.ledger, steps=out.steps)
            clock = _StepClock(out.steps)
            try:
                if keep_logs:
                    copy_ray_logs(handle, site.logs_dir)
            except OSError as exc:
                out.notes.append(f"could not copy Ray logs: {exc}")
            clock.lap("Ray logs copied")
        if self.temp_root is not None:
            shutil.rmtree(self.temp_root, ignore_errors=True)
            self.temp_root = None
            clock.lap("temp dir removed")
        return out
