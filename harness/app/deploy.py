"""Deploy the apps under test the way `serve run config.yaml` does, then wait until they answer.

Every app form is one Serve config (harness.app.serve_config): a user's config file,
or the built-in / import_path app with its per-deployment overrides turned into one,
so overrides behave exactly as in a Serve config file.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.app.serve_config import deploy_schema
from harness.model.serve import ServeConfig

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


def deploy(client: Any, config: ServeConfig) -> dict[str, Any]:
    """Hand the whole config to Serve's controller, as `serve deploy` does; returns what was sent."""
    schema = deploy_schema(config)
    client.deploy_apps(schema, _blocking=False)
    return config.data


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


def wait_ready(config: ServeConfig, root_url: str, timeout_s: float) -> float:
    """Block until every app is RUNNING and the proxy routes to it; returns seconds waited."""
    from ray import serve

    assert root_url.startswith(f"http://{LOOPBACK}:"), "load and probes go to loopback only"
    started = time.monotonic()
    apps = config.apps
    last: dict[str, str] = {}

    def check() -> None:
        statuses = serve.status().applications
        for app in apps:
            status = statuses.get(app.name)
            if status is None:
                last[app.name] = f"app {app.name!r} NOT_STARTED"
                raise _NotYet(app.name)
            state = str(getattr(status.status, "value", status.status))
            if state == "DEPLOY_FAILED":
                raise AppNotReady(f"failed to deploy: {_status_line(app.name, status)}"[:1500])
            if state != "RUNNING":
                last[app.name] = _status_line(app.name, status)
                raise _NotYet(app.name)
        try:
            routes = _routes(root_url)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last["proxy"] = f"proxy not answering ({exc})"
            raise _NotYet("proxy") from exc
        missing = [a.route_prefix for a in apps if a.route_prefix and a.route_prefix not in routes]
        if missing:
            last["proxy"] = f"proxy has no route yet for {', '.join(missing)}"
            raise _NotYet("proxy")

    retrying = Retrying(
        retry=retry_if_exception_type(_NotYet),
        # Polls are cheap (a status call and a local HTTP GET): a long pause only delays the run.
        wait=wait_exponential(multiplier=0.1, max=0.5),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
    try:
        retrying(check)
    except _NotYet as exc:
        raise AppNotReady(f"not ready after {timeout_s:g}s: {last.get(str(exc), exc)}"[:1500]) from None
    return time.monotonic() - started


def deployment_names(app_name: str) -> list[str]:
    """The deployments of a deployed application, as Serve reports them."""
    from ray import serve

    status = serve.status().applications.get(app_name)
    return [] if status is None else sorted(status.deployments)
