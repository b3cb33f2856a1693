"""Deploy the app under test the way `serve run config.yaml` does, then wait until it answers.

Both the built-in app and a user's app go through Serve's own config schema
(import path, args, per-deployment overrides), so overrides behave exactly as in
a Serve config file.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.causes import last_error_line
from harness.config import AppSpec

LOOPBACK = "127.0.0.1"


class AppNotReady(Exception):
    """The app never became ready: an infrastructure error, not a verdict."""


def application_config(app: AppSpec, seed: int) -> dict[str, Any]:
    args = dict(app.args)
    if app.is_builtin:
        args = {**app.builtin.model_dump(), "seed": seed, **args}
    config: dict[str, Any] = {
        "name": app.name,
        "route_prefix": app.route_prefix,
        "import_path": app.resolved_import_path(),
        "args": args,
    }
    if app.deployments:
        config["deployments"] = [d.serve_options() for d in app.deployments]
    return config


def start_serve(http_port: int, owned_cluster: bool) -> Any:
    """Start Serve (or connect to a running one) on loopback; returns Serve's client."""
    from ray.serve._private import api as serve_api
    from ray.serve.config import ProxyLocation

    http_options = {"host": LOOPBACK, "port": http_port}
    # One proxy on the head: proxies on several local nodes would share one port.
    location = ProxyLocation.HeadOnly if owned_cluster else None
    return serve_api.serve_start(http_options=http_options, proxy_location=location)


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


def deploy(client: Any, app: AppSpec, seed: int) -> dict[str, Any]:
    from ray.serve.schema import ServeDeploySchema

    app_config = application_config(app, seed)
    client.deploy_apps(ServeDeploySchema(applications=[app_config]), _blocking=False)
    return app_config


def _app_status(app_name: str) -> tuple[str, str]:
    from ray import serve

    status = serve.status().applications.get(app_name)
    if status is None:
        return "NOT_STARTED", ""
    return str(status.status.value if hasattr(status.status, "value") else status.status), status.message


def deployment_names(app_name: str) -> list[str]:
    """The deployments of a deployed application, as Serve reports them."""
    from ray import serve

    status = serve.status().applications.get(app_name)
    return [] if status is None else sorted(status.deployments)


def _probe(url: str, timeout_s: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NotYet(Exception):
    pass


def wait_ready(app: AppSpec, url: str, timeout_s: float) -> float:
    """Block until the app is RUNNING and answers over HTTP; returns seconds waited."""
    assert url.startswith(f"http://{LOOPBACK}:"), "load and probes go to loopback only"
    started = time.monotonic()

    def check() -> None:
        state, message = _app_status(app.name)
        if state == "DEPLOY_FAILED":
            # Serve's message is a traceback: its last line is the cause, so it goes first.
            cause = last_error_line(message) or "no message from Serve"
            raise AppNotReady(f"app {app.name!r} failed to deploy: {cause}; Serve said: {message.strip()[:1000]}")
        if state != "RUNNING":
            raise _NotYet(state)
        try:
            code = _probe(url, timeout_s=5)
        except (OSError, urllib.error.URLError) as exc:
            raise _NotYet(str(exc)) from exc
        if code in (404, 503):  # route not registered yet / proxy not ready
            raise _NotYet(f"HTTP {code}")

    retrying = Retrying(
        retry=retry_if_exception_type(_NotYet),
        wait=wait_exponential(multiplier=0.1, max=2),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    )
    try:
        retrying(check)
    except _NotYet as exc:
        raise AppNotReady(
            f"app {app.name!r} not ready after {timeout_s:g}s (last state: {exc})"
        ) from None
    return time.monotonic() - started
