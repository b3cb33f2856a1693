"""The app under test as a Serve config file (`serve build` output), validated by Ray Serve itself.

`app: {config: path/to/serve_config.yaml}` names the file `serve deploy` takes.
It is read with the harness's safe YAML loader, `--set app.config.<key path>=...`
overrides are applied to it as `serve deploy` users edit the file, and the result
is validated with Ray Serve's own `ServeDeploySchema` (and the schemas it nests):
every option Ray accepts is accepted, and Ray's own message says what it expected.

The harness's own app form (`app.import_path` / built-in with `deployments:`) is
turned into the same shape (`legacy_config`), so both go through one deploy path.

Local directories in `runtime_env.working_dir` / `py_modules` (relative to the
config file) become `local://` URIs: every node of a local cluster shares this
machine's filesystem, which is what Ray asks of such a URI.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from harness.hooks import hookimpl
from harness.model import safe_yaml
from harness.model.overrides import apply_override
from harness.model.scenario import AppSpec
from harness.model.serve_apps import ServeConfig, UnknownKey

LOOPBACK = "127.0.0.1"


class ServeConfigError(Exception):
    """The config file is not one Ray Serve accepts: (key path, what was expected) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))
        self.problems = problems


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServeConfigError([("(file)", "an existing Serve config file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeConfigError([("(file)", f"a readable UTF-8 file ({exc})")]) from None
    try:
        data = safe_yaml.load(text)
    except safe_yaml.YamlRejected as exc:
        raise ServeConfigError([(exc.where, exc.expected.removeprefix("expected "))]) from None
    if not isinstance(data, dict):
        raise ServeConfigError([("(top level)", f"a mapping with applications: (got {type(data).__name__})")])
    return data


def _local_dir(value: Any, base: Path, key: str, problems: list[tuple[str, str]]) -> Any:
    """A local directory (relative to the config file) as a local:// URI; URIs pass through."""
    if not isinstance(value, str) or "://" in value:
        return value
    path = (base / value).resolve()
    if not path.is_dir():
        problems.append((key, f"an existing directory (relative to the config file) or a URI, got {value!r}"))
        return value
    return f"local://{path}"


def localize_runtime_env(env: Any, base: Path, key: str, problems: list[tuple[str, str]]) -> Any:
    if not isinstance(env, dict):
        return env
    env = dict(env)
    if "working_dir" in env:
        env["working_dir"] = _local_dir(env["working_dir"], base, f"{key}.working_dir", problems)
    if isinstance(env.get("py_modules"), list):
        env["py_modules"] = [
            _local_dir(m, base, f"{key}.py_modules.{i}", problems) for i, m in enumerate(env["py_modules"])
        ]
    return env


def localize(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Every runtime_env of the file with its local directories as local:// URIs."""
    data = copy.deepcopy(data)
    problems: list[tuple[str, str]] = []
    apps = data.get("applications")
    for a, app in enumerate(apps if isinstance(apps, list) else []):
        if not isinstance(app, dict):
            continue
        if "runtime_env" in app:
            app["runtime_env"] = localize_runtime_env(app["runtime_env"], base, f"applications.{a}.runtime_env", problems)
        deps = app.get("deployments")
        for d, dep in enumerate(deps if isinstance(deps, list) else []):
            opts = dep.get("ray_actor_options") if isinstance(dep, dict) else None
            if isinstance(opts, dict) and "runtime_env" in opts:
                opts["runtime_env"] = localize_runtime_env(
                    opts["runtime_env"], base, f"applications.{a}.deployments.{d}.ray_actor_options.runtime_env",
                    problems,
                )
    if problems:
        raise ServeConfigError(problems)
    return data


def _data_path(data: Any, loc: tuple[Any, ...]) -> str:
    """The key path of an error inside the data: union member tags pydantic adds are dropped."""
    parts, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, (dict, list)) and not parts[-1:] == [str(part)]:
            node = None  # a missing key: still part of the path
        else:
            continue  # a tag such as `constrained-int` or `function-after[...]`
        parts.append(safe_yaml.printable_key(part))
    return ".".join(parts) or "(top level)"


def describe_ray_error(error: Any, data: Any, root: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Ray's pydantic ValidationError as (key path, what was expected) pairs, Ray's words kept.

    A union (`num_replicas: int | "auto"`) fails once per member: one line says them all.
    """
    merged: dict[str, tuple[list[str], str]] = {}
    for item in error.errors():
        loc = _data_path(data, root + tuple(item["loc"]))
        msg = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if item["type"] == "missing":
            msg = "a value (required key is missing)"
        elif item["type"] in ("value_error", "assertion_error"):
            msg = f"a value Ray accepts: {msg}"
        elif msg.startswith(("Input should be ", "Value should be ")):
            msg = msg.split(" should be ", 1)[1]
        text = repr(item.get("input"))
        got = "" if item["type"] == "missing" else f" (got {text if len(text) <= 60 else text[:57] + '...'})"
        msgs, _ = merged.setdefault(loc, ([], got))
        first = msg.splitlines()[0] if msg else "a valid value"
        if first not in msgs:
            msgs.append(first)
    return [(loc, " or ".join(msgs) + got) for loc, (msgs, got) in merged.items()]


def validate(data: dict[str, Any]) -> dict[str, Any]:
    """Ray Serve's own ServeDeploySchema over the data; returns it, or raises ServeConfigError."""
    from pydantic import ValidationError
    from ray.serve.schema import (
        ServeDeploySchema,  # ~1 s: only for scenarios that name a config file
    )

    try:
        ServeDeploySchema.model_validate(data)
    except ValidationError as exc:
        raise ServeConfigError(describe_ray_error(exc, data)) from None
    if not data.get("applications"):
        raise ServeConfigError([("applications", "at least one application")])
    problems = []
    for a, app in enumerate(data["applications"]):
        for d, dep in enumerate(app.get("deployments") or []):
            # Serve keeps autoscaling_config a plain dict until the controller applies it:
            # Ray's own AutoscalingConfig checks it here, before anything starts.
            if isinstance(dep.get("autoscaling_config"), dict):
                problems += _autoscaling_problems(dep["autoscaling_config"], f"applications.{a}.deployments.{d}")
    if problems:
        raise ServeConfigError(problems)
    return data


def _autoscaling_problems(config: dict[str, Any], key: str) -> list[tuple[str, str]]:
    from pydantic import ValidationError
    from ray.serve.config import AutoscalingConfig

    try:
        AutoscalingConfig.model_validate(config)
    except ValidationError as exc:
        wrapped = {"autoscaling_config": config}
        return [(f"{key}.{loc}", msg) for loc, msg in describe_ray_error(exc, wrapped, ("autoscaling_config",))]
    return []


def check_local_cluster(data: dict[str, Any]) -> list[str]:
    """What the harness changes on a local cluster: it owns the proxy's host, port and placement."""
    notes = []
    http = data.get("http_options") or {}
    for key in ("host", "port"):
        if key in http:
            notes.append(f"http_options.{key} is set by the harness (loopback, a free port), not {http[key]!r}")
    if data.get("proxy_location") not in (None, "HeadOnly"):
        notes.append(f"proxy_location {data['proxy_location']!r} becomes HeadOnly (one proxy on a local cluster)")
    return notes


def load_serve_config(path: str | Path, overrides: list[tuple[str, list[str], Any]] | None = None) -> ServeConfig:
    """Read, override, localize and validate one config file.

    overrides: (the --set text, key path inside the file, value). Raises ServeConfigError,
    or harness.model.errors.ConfigError for an override that does not fit the file.
    """
    path = Path(path)
    data = read_config_file(path)
    for text, key_path, value in overrides or []:
        apply_override(data, key_path, value, f"{path} (--set {text})")
    data = localize(data, path.resolve().parent)
    validate(data)
    unknown = unknown_keys(data)
    return ServeConfig(data=data, source=str(path), notes=check_local_cluster(data) + [u.line() for u in unknown], unknown=unknown)


def unknown_keys(data: dict[str, Any]) -> list[UnknownKey]:
    """Keys Ray's schema does not know, each with the known key closest to it. Ray ignores them
    (forward compatibility), so a typo such as `num_replicaz` would silently change nothing:
    `harness validate` names each (a warning; refused with --strict) and the run notes them."""
    import difflib

    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import (
        DeploymentSchema,
        RayActorOptionsSchema,
        ServeApplicationSchema,
        ServeDeploySchema,
    )

    def extra(mapping: Any, model: Any, key: str) -> list[UnknownKey]:
        if not isinstance(mapping, dict):
            return []
        known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
        return [
            UnknownKey(f"{key}{k}", model.__name__, next(iter(difflib.get_close_matches(str(k), sorted(known), n=1)), None))
            for k in mapping if k not in known
        ]

    found = extra(data, ServeDeploySchema, "")
    for a, app in enumerate(data.get("applications") or []):
        found += extra(app, ServeApplicationSchema, f"applications.{a}.")
        for d, dep in enumerate((app.get("deployments") or []) if isinstance(app, dict) else []):
            base = f"applications.{a}.deployments.{d}."
            found += extra(dep, DeploymentSchema, base)
            if isinstance(dep, dict):
                found += extra(dep.get("ray_actor_options"), RayActorOptionsSchema, base + "ray_actor_options.")
                found += extra(dep.get("autoscaling_config"), AutoscalingConfig, base + "autoscaling_config.")
    return found


def deploy_schema(config: ServeConfig) -> Any:
    """The config as Ray's ServeDeploySchema, with the harness's host, port and proxy placement."""
    from ray.serve.schema import ServeDeploySchema

    data = copy.deepcopy(config.data)
    data.pop("http_options", None)  # started by the harness (start_serve) on loopback
    data.pop("proxy_location", None)
    return ServeDeploySchema.model_validate(data)


def http_options(config: ServeConfig, port: int) -> dict[str, Any]:
    """The file's http_options (timeouts, ...) on loopback and the harness's port."""
    return {**(config.data.get("http_options") or {}), "host": LOOPBACK, "port": port}


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


def legacy_config(app: Any, seed: int) -> ServeConfig:
    """The harness's own app form (built-in or import_path, with deployments:) as a config file."""
    return ServeConfig(data={"applications": [application_config(app, seed)]})


@hookimpl
def scenario_problems(scenario: Any, strict: bool) -> list[tuple[str, str]]:
    """With --strict, keys of the Serve config file that Ray ignores (warnings otherwise)."""
    serve = None if scenario.app is None else scenario.app.serve_config
    if serve is None or not strict:
        return []
    return [(f"app.config: {serve.source}: {u.path}", (
        f"{'did you mean ' + u.close + '? ' if u.close else ''}(expected a key Ray's {u.schema} knows: "
        "Ray ignores others, and --strict refuses them)"
    )) for u in serve.unknown]
