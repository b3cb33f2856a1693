"""The traffic a scenario sends: a weighted mix of named requests, or the user's own Locust class.

    load:
      requests:
        - name: predict                 # every request record carries it; SLOs take `request: predict`
          weight: 3
          method: POST
          app: api                      # path is under this app's route_prefix (or give a full path)
          path: /predict
          headers: {x-tenant: gate}
          body_template:                # a JSON object whose fields are drawn from the run's seed
            prompt: {line_of: configs/apps/prompts.txt}
            max_tokens: {int: [16, 64]}
            temperature: {float: [0.0, 1.0]}
            model: {choice: [small, large]}
            stream: false               # anything else is taken as is ({value: {...}} for an object)
          timeout_s: 5
          expect_status: 200            # or a list; default: any 2xx/3xx is ok
      # or: user_class: "pkg.module:MyUser"   (an HttpUser / FastHttpUser subclass)

This module validates that section against the apps of the Serve config (names,
routes, body fields) and resolves it to plain data for the load process
(locustfiles.request_mix builds and sends it, stdlib only).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.hooks import hookimpl
from harness.model.load_spec import RequestSpec, shape_problems

if TYPE_CHECKING:
    from harness.model.scenario import Scenario
    from harness.model.serve_apps import ServeConfig

DRAW_KINDS = ("choice", "int", "float", "line_of", "value")
DEFAULT_REQUEST = "default"
MAX_LINES_BYTES = 8_000_000  # a line_of file travels to the load process in its config
USER_CLASS_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
# -- validation ---------------------------------------------------------------


# HTTP's rules (RFC 9110 5.1, 5.5): a field name is a token; a value holds visible
# characters, spaces and tabs (and obs-text), never CR, LF or another control character.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def header_problems(headers: dict[str, str], key: str) -> list[tuple[str, str]]:
    problems = []
    for name, value in headers.items():
        where = f"{key}.{name}"
        if not _TOKEN.match(name):
            bad = sorted({c for c in name if not _TOKEN.match(c)})
            problems.append((where, f"a header name of token characters (letters, digits, !#$%&'*+-.^_`|~), "
                                    f"got {name!r} with {', '.join(repr(c) for c in bad)}"))
        if _BAD_VALUE.search(value):
            problems.append((where, f"a header value without CR, LF or other control characters, got {value!r}"))
        elif any(ord(c) > 0xFF for c in value):
            problems.append((where, f"a header value of Latin-1 characters (HTTP sends bytes), got {value!r}"))
    return problems


def json_problem(value: Any, key: str) -> tuple[str, str] | None:
    """The first part of a value that JSON cannot carry as is (the load process sends it as JSON)."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return key, f"a finite number, got {value!r} (JSON has no infinity or NaN)"
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = json_problem(item, f"{key}.{index}")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                return f"{key}.{name}", f"a string key (JSON object keys are strings), got {name!r}"
            problem = json_problem(item, f"{key}.{name}")
            if problem:
                return problem
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return key, f"a JSON value, got the date {value.isoformat()} (YAML reads an unquoted date as a date: quote it)"
    return key, f"a JSON value (null, true/false, a number, a string, a list or a mapping), got {type(value).__name__}"



def template_problems(template: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """Each field of a body template: a literal, or a one-key draw {choice|int|float|line_of|value: ...}."""
    problems: list[tuple[str, str]] = []
    for name, spec in template.items():
        where = f"{key}.{name}"
        if not isinstance(spec, dict):
            problem = json_problem(spec, where)  # a literal
            if problem:
                problems.append(problem)
            continue
        if len(spec) != 1 or next(iter(spec)) not in DRAW_KINDS:
            problems.append((where, f"one of {', '.join(DRAW_KINDS)} as the field's kind, got {sorted(spec)}"))
            continue
        kind, arg = next(iter(spec.items()))
        if kind == "choice" and (not isinstance(arg, list) or not arg):
            problems.append((f"{where}.choice", f"a non-empty list to choose from, got {arg!r}"))
        elif kind in ("int", "float"):
            numbers = (int,) if kind == "int" else (int, float)
            ok = (isinstance(arg, list) and len(arg) == 2
                  and all(isinstance(v, numbers) and not isinstance(v, bool) and math.isfinite(v) for v in arg)
                  and arg[0] <= arg[1])
            if not ok:
                problems.append((f"{where}.{kind}", f"[low, high] {kind}s with low <= high, both finite, got {arg!r}"))
        elif kind in ("choice", "value"):
            problem = json_problem(arg, f"{where}.{kind}")
            if problem:
                problems.append(problem)
        elif kind == "line_of":
            problem = _lines_problem(arg)
            if problem:
                problems.append((f"{where}.line_of", problem))
    return problems


def _lines_problem(path: Any) -> str | None:
    if not isinstance(path, str) or not Path(path).is_file():
        return f"an existing text file (relative to the scenario file), got {path!r}"
    if Path(path).stat().st_size > MAX_LINES_BYTES:
        return f"a file of at most {MAX_LINES_BYTES // 1_000_000} MB"
    try:
        if not read_lines(path):
            return f"a file with at least one non-empty line, got {path!r}"
    except (OSError, UnicodeDecodeError) as exc:
        return f"a readable UTF-8 file ({exc})"
    return None


def read_lines(path: str) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def route_app(config: ServeConfig, path: str) -> str | None:
    """The app whose route prefix serves a full path (the longest prefix wins, as in Serve's proxy)."""
    best, best_len = None, -1
    for app in config.apps:
        prefix = (app.route_prefix or "").rstrip("/")
        if app.route_prefix is None:
            continue
        if (path == prefix or path.startswith(prefix + "/") or prefix == "") and len(prefix) > best_len:
            best, best_len = app.name, len(prefix)
    return best


def request_problems(scenario: Scenario) -> list[tuple[str, str]]:
    load, config = scenario.load, scenario.app.serve_config
    problems: list[tuple[str, str]] = []
    if load.requests is None:
        return problems
    if load.user_class is not None:
        problems.append(("load.user_class", "load.requests or load.user_class, not both"))
    if load.path != "/" or load.method != "GET":  # (the defaults: a resolved scenario.yaml lists them)
        problems.append(("load.requests", "load.requests or load.path/method, not both"))
    seen: set[str] = set()
    for index, req in enumerate(load.requests):
        key = f"load.requests.{index}"
        if req.name in seen:
            problems.append((f"{key}.name", f"a name used once, got {req.name!r} again"))
        seen.add(req.name)
        if req.app is not None:
            app = config.app(req.app) if config else None
            if app is None:
                known = ", ".join(a.name for a in config.apps) if config else ""
                problems.append((f"{key}.app", f"an app of the Serve config ({known}), got {req.app!r}"))
            elif app.route_prefix is None:
                problems.append((f"{key}.app", f"an app with a route_prefix (app {req.app!r} has none)"))
        elif config is not None and route_app(config, req.path) is None:
            prefixes = ", ".join(a.route_prefix for a in config.apps if a.route_prefix)
            problems.append((f"{key}.path", f"a path under a route_prefix of the Serve config ({prefixes}), "
                                            f"got {req.path!r}"))
        problems += header_problems(req.headers, f"{key}.headers")
        body_problem = json_problem(req.body, f"{key}.body")
        if body_problem:
            problems.append(body_problem)
        if req.body_template is not None:
            problems += template_problems(req.body_template, f"{key}.body_template")
        if req.timeout_s is not None and req.timeout_s > load.request_timeout_s:
            problems.append((f"{key}.timeout_s", f"at most load.request_timeout_s ({load.request_timeout_s:g}), "
                                                 f"got {req.timeout_s:g}"))
    return problems


# How long validation waits for a user module to import (HARNESS_IMPORT_TIMEOUT_S overrides it).
IMPORT_TIMEOUT_S = 20.0
IMPORT_TIMEOUT_ENV = "HARNESS_IMPORT_TIMEOUT_S"


def import_timeout_s() -> float:
    import os

    try:
        return max(0.1, float(os.environ.get(IMPORT_TIMEOUT_ENV, IMPORT_TIMEOUT_S)))
    except ValueError:
        return IMPORT_TIMEOUT_S


def run_child(argv: list[str], timeout_s: float) -> tuple[int, str] | None:
    """Run a checker in a child process of its own session; None when it ran past timeout_s
    (the child and anything it started are killed: a module that blocks on import must not
    hang validation)."""
    import os
    import signal
    import subprocess

    child = subprocess.Popen(  # noqa: S603 - our own interpreter and checker module
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path.cwd(),
        env=_child_env(), start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.communicate()
        return None
    return child.returncode, (out.strip() or err.strip())


def user_class_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Import the class in a child process (Locust monkey-patches whatever imports it), with a time limit."""
    import sys

    load = scenario.load
    if load.user_class is None:
        return []
    if not re.match(USER_CLASS_PATTERN, load.user_class):
        return [("load.user_class", f"'pkg.module:ClassName', got {load.user_class!r}")]
    limit = import_timeout_s()
    done = run_child([sys.executable, "-m", "locustfiles.userclass", load.user_class, load.model], limit)
    if done is None:
        module = load.user_class.split(":", 1)[0]
        return [("load.user_class", f"importing {module!r} took longer than {limit:g} s")]
    code, text = done
    if code != 0:
        lines = (text or "the check failed").splitlines()
        return [("load.user_class", lines[-1][:400])]
    return []


def _child_env() -> dict[str, str]:
    import os

    from harness.pythonpath import python_path

    return {**os.environ, "PYTHONPATH": python_path()}  # what the load process will have


def slo_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """`request:` names a request of the mix; `App/Deployment` names an app of the config."""
    from harness.slo.core import parse_check
    from harness.slo.registry import SLOSyntaxError

    problems: list[tuple[str, str]] = []
    names = request_names(scenario)
    config = scenario.app.serve_config
    for index, spec in enumerate(scenario.slos):
        try:
            check = parse_check(spec.check)
        except SLOSyntaxError:
            continue  # reported by slo.validate_checks
        if spec.request is not None:
            if names is not None and spec.request not in names:
                problems.append((f"slos.{index}.request", f"a request of load.requests ({', '.join(names)}), "
                                                          f"got {spec.request!r}"))
            if check.metric in REPLICA_METRICS:
                problems.append((f"slos.{index}.request", f"a request metric ({check.metric} is about replicas)"))
        if check.metric in REPLICA_METRICS and check.args and config is not None:
            problem = deployment_problem(config, check.args[0])
            if problem:
                problems.append((f"slos.{index}.check", problem))
    return problems


REPLICA_METRICS = frozenset({
    "time_to_replicas", "time_to_target", "scale_down_time", "max_replicas", "min_replicas",
    "direction_changes", "replica_start_time", "replica_recovery_time", "replica_outage", "decision_to_running",
})


def deployment_problem(config: ServeConfig, name: str) -> str | None:
    """An `App/Deployment` whose app is unknown, or a bare name that several apps list."""
    apps = config.apps
    if "/" in name:
        app_name, dep = name.split("/", 1)
        if config.app(app_name) is None:
            return f"an app of the Serve config in {name!r} ({', '.join(a.name for a in apps)})"
        if not dep:
            return f"App/Deployment, got {name!r}"
        return None
    owners = [a.name for a in apps if name in a.deployments]
    if len(owners) > 1:
        return f"App/Deployment for {name!r}, which several apps have ({', '.join(f'{o}/{name}' for o in owners)})"
    return None


def request_names(scenario: Scenario) -> list[str] | None:
    """Names the request records carry (None: a user class, whose requests Locust names at run time)."""
    if scenario.load.user_class is not None:
        return None
    if scenario.load.requests is None:
        return [DEFAULT_REQUEST]
    return [r.name for r in scenario.load.requests]


def traffic_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every problem of the traffic section, as (key path, message) pairs."""
    problems = request_problems(scenario) + slo_problems(scenario)
    problems = [(k, m if m.startswith("expected ") else f"expected {m}") for k, m in problems]
    return problems + [(k, m if m.startswith(("expected ", "importing ")) else f"expected {m}")
                       for k, m in user_class_problems(scenario)]


# -- resolution for the load process -----------------------------------------


def full_path(config: ServeConfig | None, req: RequestSpec) -> str:
    if req.app is None or config is None:
        return req.path
    app = config.app(req.app)
    prefix = ((app.route_prefix if app else "") or "").rstrip("/")
    return prefix + req.path if req.path != "/" or not prefix else prefix


def resolve_requests(scenario: Scenario) -> list[dict[str, Any]]:
    """The mix as plain data for locustfiles.request_mix; the legacy load.path/method is one request."""
    load, config = scenario.load, scenario.app.serve_config
    if load.requests is None:
        legacy = RequestSpec(name=DEFAULT_REQUEST, method=load.method, path=load.path,
                             app=config.apps[0].name if config and config.apps else None)
        return resolve_specs([legacy], load.request_timeout_s, config)
    return resolve_specs(list(load.requests), load.request_timeout_s, config)


def resolve_specs(
    specs: list[RequestSpec], default_timeout_s: float, config: ServeConfig | None = None
) -> list[dict[str, Any]]:
    """Validated requests as plain data (paths under their apps' route prefixes, files read)."""
    out = []
    for req in specs:
        item: dict[str, Any] = {
            "name": req.name, "weight": req.weight, "method": req.method, "path": full_path(config, req),
            "headers": dict(req.headers), "timeout_s": req.timeout_s or default_timeout_s,
            "expect": [req.expect_status] if isinstance(req.expect_status, int) else req.expect_status,
        }
        if req.body is not None:
            item["body"] = json.dumps(req.body, separators=(",", ":"))
        if req.body_template is not None:
            item["template"] = {
                name: _resolve_field(spec) for name, spec in req.body_template.items()
            }
        out.append(item)
    return out


def _resolve_field(spec: Any) -> list[Any]:
    """[kind, argument] for the load process; a line_of file is read here, once."""
    if not isinstance(spec, dict):
        return ["value", spec]
    kind, arg = next(iter(spec.items()))
    if kind == "line_of":
        return ["choice", read_lines(arg)]
    return [kind, arg]


@hookimpl
def scenario_problems(scenario: Any) -> list[tuple[str, str]]:
    """Load that would be cut at duration_s, and requests that cannot be sent (below)."""
    if scenario.app is None:  # app: none sends no traffic (harness.scenario.workload_only)
        return []
    return shape_problems(scenario.load, scenario.duration_s) + traffic_problems(scenario)
