"""Deploy the apps under test the way `serve run config.yaml` does, then wait until they answer.

Every app form is one Serve config (harness.app.serve_config): a user's config file,
or the built-in / import_path app with its per-deployment overrides turned into one,
so overrides behave exactly as in a Serve config file.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.app.serve_config import deploy_schema
from harness.model.scenario import BUILTIN_IMPORT_PATH, DeploymentSpec
from harness.model.serve_apps import ServeConfig

LOOPBACK = "127.0.0.1"


class AppNotReady(Exception):
    """The app never became ready: an infrastructure error, not a verdict."""


def start_serve(
    http_port: int, owned_cluster: bool, http_options: dict[str, Any] | None = None, every_node: bool = False
) -> Any:
    """Start Serve (or connect to a running one) on loopback; returns Serve's client.

    http_options: the config file's own (timeouts, ...); host and port are always the harness's.
    every_node: a proxy on every node with replicas (each worker node of a local cluster binds its
    own port, harness.cluster), for load workers that send to their own node's proxy.
    """
    from ray.serve._private import api as serve_api
    from ray.serve.config import ProxyLocation

    options = {**(http_options or {}), "host": LOOPBACK, "port": http_port}
    # One proxy on the head: proxies on several local nodes would share one port (every_node: each
    # worker node of a local cluster the harness started has a port of its own).
    location = ProxyLocation.EveryNode if every_node else ProxyLocation.HeadOnly if owned_cluster else None
    return serve_api.serve_start(http_options=options, proxy_location=location)


class EarlyServe:
    """Serve's start on a thread of its own, begun once the driver is connected to a cluster that is
    still starting (harness.cluster.lease.LeaseSite.on_connected): the controller and the head's
    proxy come up while the worker nodes join. result() hands over the client, or starts Serve
    itself when the cluster never called begin() (an autoscaling or shared cluster)."""

    def __init__(self, start: Callable[[], Any]):
        self._start = start
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._error: BaseException | None = None
        self.ran_s = 0.0  # how long the start took on its thread

    def begin(self) -> None:
        self._thread = threading.Thread(target=self._run, name="serve-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            self._client = self._start()
        except BaseException as exc:  # handed to result()
            self._error = exc
        self.ran_s = time.monotonic() - t0

    def result(self, timeout_s: float) -> Any:
        if self._thread is None:
            return self._start()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise AppNotReady(f"Serve did not start within {timeout_s:g}s")
        if self._error is not None:
            raise self._error
        return self._client

    def join(self, timeout_s: float) -> None:
        """Before the cluster goes away: let a start in flight end (it fails fast once it does)."""
        if self._thread is not None:
            self._thread.join(timeout_s)


def serve_is_running() -> bool:
    """Whether the connected cluster already runs a Serve controller."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return False
    return True


def serve_http_port(client: Any, default: int) -> int:
    try:
        return int(client.get_serve_details()["http_options"]["port"])
    except Exception:
        return default


def deploy(client: Any, config: ServeConfig, from_driver: bool = False) -> dict[str, Any]:
    """Hand the whole config to Serve's controller, as `serve deploy` does; returns what was sent.

    from_driver: the built-in app, built here and handed over as `serve.run` does
    (deploy_from_driver), where the config allows it.
    """
    schema = deploy_schema(config)  # validated as Serve validates a config file, either way
    names = {a.name for a in config.apps}
    if from_driver and deploy_from_driver(client, config):
        _BUILTIN_FROM_DRIVER.update(names)
    else:
        _BUILTIN_FROM_DRIVER.difference_update(names)
        client.deploy_apps(schema, _blocking=False)
    return config.data


# Apps of this name that this process last deployed as the built-in app from the driver (a
# suite's runs share the process and the cluster): Serve's details name no import path for them.
_BUILTIN_FROM_DRIVER: set[str] = set()


# The keys of the built-in app's config (harness.app.serve_config.application_config) and of
# its deployment's options (harness.model.scenario.DeploymentSpec): a config with any other
# key goes to Serve as a config file.
_DRIVER_APP_KEYS = {"name", "route_prefix", "import_path", "args", "deployments"}
_DRIVER_OPTION_KEYS = set(DeploymentSpec.model_fields)


def deploy_from_driver(client: Any, config: ServeConfig) -> bool:
    """Deploy the built-in app the way `serve.run(app)` does: built in this process, its
    deployment's options applied in code, then handed to the controller. A config file's
    deploy builds the app in a Ray task instead (a worker process importing Serve and the
    app: 1.5-1.8 s before the first replica starts, docs/benchmarks.md); the replicas, their
    options and the route are the same. Returns False (nothing sent) for any config that is
    not the built-in app's own: that one goes to Serve as a config file."""
    apps = config.data.get("applications") or []
    if len(apps) != 1 or set(apps[0]) - _DRIVER_APP_KEYS or apps[0].get("import_path") != BUILTIN_IMPORT_PATH:
        return False
    app = apps[0]
    deployments = app.get("deployments") or []
    if len(deployments) > 1 or any(set(d) - _DRIVER_OPTION_KEYS for d in deployments):
        return False
    import ray
    from ray.serve._private.build_app import build_app

    from harness.app.builtin import build_with_options

    options = {k: v for k, v in (deployments[0] if deployments else {}).items() if k != "name"}
    built = build_app(build_with_options(app.get("args") or {}, options), name=app.get("name", "default"),
                      route_prefix=app.get("route_prefix", "/"),
                      default_runtime_env=ray.get_runtime_context().runtime_env)
    client.deploy_applications([built], wait_for_ingress_deployment_creation=False,
                               wait_for_applications_running=False)
    return True


def short_message(message: str) -> str:
    """Serve's message in one line: its first line and, for a traceback, the exception at its end."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][:600]
    return f"{lines[0][:300]} ... {lines[-1][:300]}"


def _status_line(app_name: str, status: Any) -> str:
    """An app's state and each unhealthy deployment with Serve's own message."""
    state = str(getattr(status.status, "value", status.status))
    parts = [f"app {app_name!r} {state}" + (f": {short_message(status.message)}" if status.message else "")]
    for dep_name, dep in (status.deployments or {}).items():
        dep_state = str(getattr(dep.status, "value", dep.status))
        if dep_state != "HEALTHY":
            message = short_message(dep.message or "")
            parts.append(f"deployment {app_name}/{dep_name} {dep_state}" + (f": {message}" if message else ""))
    return "; ".join(parts)


def _routes(root_url: str) -> dict[str, str]:
    """Serve's proxy route table (route prefix -> app), as the proxy itself serves it."""
    with urllib.request.urlopen(root_url + "/-/routes", timeout=5) as response:  # noqa: S310 - loopback only
        return json.loads(response.read().decode() or "{}")


class _NotYet(Exception):
    pass


# Readiness is polled at a fixed short interval: an exponential backoff up to 2 s overshot
# the moment the app answered by ~1 s on average (issue 23); one poll costs a few ms.
POLL_INTERVAL_S = 0.1


@dataclass(kw_only=True)
class ReadyTrace:
    """How the wait for the app went, for `bench/run_vs_script.py`'s step-by-step account.

    Seconds since the wait began: `running_after_s` the first poll that saw every app RUNNING,
    `routed_after_s` the first that also found the proxy's routes (the wait's end), and
    `last_not_ready_s` the poll before it: the app became ready between the two. From Serve's
    details once ready: `deployed_after_s` when the controller took the config,
    `replicas_started_after_s` when each replica actor started (worker process, import,
    constructor and first health check follow until RUNNING).
    """

    polls: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)  # "app:STATE" / "proxy:routed" -> s
    running_after_s: float | None = None
    routed_after_s: float | None = None
    last_not_ready_s: float | None = None
    deployed_after_s: float | None = None
    replicas_started_after_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _serve_details_into(trace: ReadyTrace, started_wall: float) -> None:
    """The controller's own times for the deploy and each replica start (best effort)."""
    try:
        from ray.serve.context import _get_global_client

        details = _get_global_client().get_serve_details()
    except Exception:
        return
    for app in (details.get("applications") or {}).values():
        deployed = app.get("last_deployed_time_s")
        if isinstance(deployed, (int, float)):
            trace.deployed_after_s = round(deployed - started_wall, 3)
        for dep in (app.get("deployments") or {}).values():
            for replica in dep.get("replicas") or []:
                if isinstance(replica.get("start_time_s"), (int, float)):
                    trace.replicas_started_after_s.append(round(replica["start_time_s"] - started_wall, 3))
    trace.replicas_started_after_s.sort()


def wait_ready(config: ServeConfig, root_url: str, timeout_s: float, trace: ReadyTrace | None = None,
               since: float | None = None) -> float:
    """Block until every app is RUNNING and the proxy routes to it; returns seconds waited.

    trace: filled with how the wait went; since: the wall time its seconds count from
    (default: the wait's start), e.g. when Serve's start was asked for.
    """
    from ray import serve

    assert root_url.startswith(f"http://{LOOPBACK}:"), "load and probes go to loopback only"
    started = time.monotonic()
    origin_wall = time.time() if since is None else since
    origin = started - (time.time() - origin_wall)
    apps = config.apps
    last: dict[str, str] = {}
    trace = trace if trace is not None else ReadyTrace()

    def seen(what: str) -> None:
        trace.first_seen.setdefault(what, round(time.monotonic() - origin, 3))

    def check() -> None:
        trace.polls += 1
        now = round(time.monotonic() - origin, 3)
        try:
            statuses = serve.status().applications
            for app in apps:
                status = statuses.get(app.name)
                if status is None:
                    last[app.name] = f"app {app.name!r} NOT_STARTED"
                    seen(f"{app.name}:NOT_STARTED")
                    raise _NotYet(app.name)
                state = str(getattr(status.status, "value", status.status))
                seen(f"{app.name}:{state}")
                if state == "DEPLOY_FAILED":
                    raise AppNotReady(f"failed to deploy: {_status_line(app.name, status)}"[:1500])
                if state != "RUNNING":
                    last[app.name] = _status_line(app.name, status)
                    raise _NotYet(app.name)
            if trace.running_after_s is None:
                trace.running_after_s = now
            try:
                routes = _routes(root_url)
            except (OSError, ValueError, urllib.error.URLError) as exc:
                last["proxy"] = f"proxy not answering ({exc})"
                raise _NotYet("proxy") from exc
            missing = [a.route_prefix for a in apps if a.route_prefix and a.route_prefix not in routes]
            if missing:
                last["proxy"] = f"proxy has no route yet for {', '.join(missing)}"
                raise _NotYet("proxy")
        except _NotYet:
            trace.last_not_ready_s = now
            raise
        trace.routed_after_s = round(time.monotonic() - origin, 3)

    retrying = Retrying(
        retry=retry_if_exception_type(_NotYet),
        wait=wait_fixed(POLL_INTERVAL_S),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
    try:
        retrying(check)
    except _NotYet as exc:
        raise AppNotReady(f"not ready after {timeout_s:g}s: {last.get(str(exc), exc)}"[:1500]) from None
    waited = time.monotonic() - started
    _serve_details_into(trace, origin_wall)
    return waited


def wait_deleted(app_names: list[str], timeout_s: float = 60.0, end_idle_builtin: bool = False) -> float:
    """Block until none of these apps exists any more (a deletion asked for earlier has ended);
    returns seconds waited. Serve's own blocking delete polls once a second.

    end_idle_builtin: a finished run's app on a cluster the harness started (a suite's shared
    one): the built-in app's replicas noted before its deletion (note_idle_builtin) are ended
    once Serve has taken them out of service (end_noted_replicas), not waited for.
    """
    from ray import serve

    started = time.monotonic()
    while True:
        apps = serve.status().applications
        left = [n for n in app_names if n in apps
                and str(getattr(apps[n].status, "value", apps[n].status)) != "NOT_STARTED"]
        if not left:
            for name in app_names:
                _IDLE_REPLICAS.pop(name, None)
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AppNotReady(f"app(s) {', '.join(left)} of the previous run still being deleted after {timeout_s:g}s")
        if end_idle_builtin:
            end_noted_replicas(left)
        time.sleep(POLL_INTERVAL_S)


# The replica actors of a finished run's built-in app, by app name, noted before its deletion
# was asked for (note_idle_builtin); ended by the next run's wait_deleted (end_noted_replicas).
_IDLE_REPLICAS: dict[str, list[str]] = {}


def _is_builtin(name: str, app: dict[str, Any]) -> bool:
    import_path = (app.get("deployed_app_config") or {}).get("import_path")
    return import_path == BUILTIN_IMPORT_PATH or (import_path is None and name in _BUILTIN_FROM_DRIVER)


def note_idle_builtin(app_names: list[str]) -> None:
    """Before a finished run's apps are deleted: note the replica actors of the built-in app
    (best effort; Serve's details list no deployment of an app once it is deleting)."""
    from ray.serve.context import _get_global_client

    try:
        details = _get_global_client().get_serve_details()
    except Exception:
        return
    for name in app_names:
        app = (details.get("applications") or {}).get(name) or {}
        if not _is_builtin(name, app):
            continue
        _IDLE_REPLICAS[name] = [r["actor_name"] for dep in (app.get("deployments") or {}).values()
                                for r in dep.get("replicas") or [] if r.get("actor_name")]


def end_noted_replicas(app_names: list[str]) -> None:
    """End the noted replicas of these apps once Serve has taken the apps out of service.

    A replica Serve stops first sleeps graceful_shutdown_wait_loop_s (2 s by default: time for
    routers to forget it), then waits for its requests in flight and runs its destructor; the
    app's deletion waits for that. For the built-in app of a finished run none of it does
    anything: the load is over (nothing in flight, no router left to send), and the app has
    no destructor. Serve's controller removes an app's endpoints and sets its deployments'
    target to 0 replicas in one step; once the endpoints are gone no replica of the app can be
    replaced, so the noted actors are killed and Serve's next check finds them gone: the
    deletion ends ~2 s sooner. Other apps (a user's, which may have a destructor) stop as
    Serve stops them.
    """
    waiting = [n for n in app_names if _IDLE_REPLICAS.get(n)]
    if not waiting:
        return
    import ray
    from ray.serve._private.constants import SERVE_NAMESPACE
    from ray.serve.context import _get_global_client

    try:
        endpoints = ray.get(_get_global_client()._controller.get_all_endpoints.remote(), timeout=5)
    except Exception:
        return
    served = {getattr(d, "app_name", None) for d in endpoints}
    for name in waiting:
        if name in served:
            continue  # the deletion is not applied yet: a replica ended now could be replaced
        for actor in _IDLE_REPLICAS.pop(name):
            try:
                ray.kill(ray.get_actor(actor, namespace=SERVE_NAMESPACE), no_restart=True)
            except Exception:  # gone already: Serve's own stop won the race
                pass


def deployment_names(app_name: str) -> list[str]:
    """The deployments of a deployed application, as Serve reports them."""
    from ray import serve

    status = serve.status().applications.get(app_name)
    return [] if status is None else sorted(status.deployments)
