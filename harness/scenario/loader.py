"""Scenario files to typed Scenario objects, with one-line errors.

YAML is only ever loaded through harness.model.safe_yaml (PyYAML's safe loader, with
bounded depth and size): a tag that would construct an object is an error
naming its key, not code that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pluggy
from pydantic import ValidationError

from chaos import fault_registry as chaos_registry
from harness.app import serve_config
from harness.app.serve_config import ServeConfigError, legacy_config, load_serve_config
from harness.hooks import checks_manager
from harness.load import traffic
from harness.model import safe_yaml
from harness.model import scenario as config
from harness.model.errors import ConfigError, format_validation_error
from harness.model.overrides import apply_override
from harness.model.scenario import Scenario
from harness.pythonpath import export as export_python_path
from harness.scenario import placement_check, workload_only
from harness.scenario.paths import resolve_paths, warn_stderr
from harness.slo import targets as slo_targets

# Every package's scenario checks (each module implements harness.hooks' `scenario_problems`),
# in the order their problems are listed: the cross-section rules, the Serve config file
# (--strict), placement, the load, the SLOs, chaos, then the rules of `app: none`.
SCENARIO_CHECKS: tuple[object, ...] = (
    config, serve_config, placement_check, traffic, slo_targets, chaos_registry, workload_only,
)


@cache
def scenario_checks() -> pluggy.PluginManager:
    """The checks registered once per process; a wrongly declared one raises here."""
    return checks_manager(SCENARIO_CHECKS)


def check_scenario(scenario: Scenario, strict: bool = False) -> list[tuple[str, str]]:
    """Every registered check's problems, merged in SCENARIO_CHECKS order."""
    results = scenario_checks().hook.scenario_problems(scenario=scenario, strict=strict)
    # pluggy calls the implementation registered last first: reversed, registration order.
    return [problem for found in reversed(results) for problem in found]


def attach_serve_config(scenario: Scenario, source: str, overrides: list[tuple[str, list[str], Any]]) -> None:
    """Read the Serve config file the scenario names (or build one from its app section)."""
    app = scenario.app
    if app is None:  # app: none (a workload-only run)
        return
    if app.config is None:
        app.serve_config = legacy_config(app, scenario.seed)
        return
    try:
        app.serve_config = load_serve_config(app.config, overrides)
    except ServeConfigError as exc:
        raise ConfigError([
            f"{app.config}: {key}: expected {message} (app.config of {source})" for key, message in exc.problems
        ]) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.0.c=value` to (path, value); the value is read as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ConfigError([f"--set {text}: expected key.path=value"])
    key, raw = text.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise ConfigError([f"--set {text}: expected a key path before '='"])
    try:
        value = safe_yaml.load(raw) if raw.strip() else ""
    except safe_yaml.YamlRejected as exc:
        raise ConfigError([f"--set {text}: {exc.where}: {exc.expected}"]) from None
    return path, value


def read_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: expected an existing scenario file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: expected a readable UTF-8 file ({exc})"]) from None
    try:
        data = safe_yaml.load(text)
    except safe_yaml.YamlRejected as exc:
        raise ConfigError([f"{source}: {exc.where}: {exc.expected}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: (top level): expected a mapping (got {type(data).__name__})"])
    return data


def seed_override(seed: int | None) -> list[str]:
    """`--seed N` as what it is, the override `seed=N`: the run's seed has one channel."""
    return [] if seed is None else [f"seed={seed}"]


def load_scenario(
    path: str | Path, overrides: list[str] | None = None,
    rewrite: Callable[[dict[str, Any]], None] | None = None, strict: bool = False,
    recorded: bool = False,
) -> Scenario:
    """Read, override and validate one scenario file; raise ConfigError on any problem.

    Its paths resolve against its folder (harness.scenario.paths), and children the run
    starts import from that folder too (harness.pythonpath). `recorded`: a run folder's
    scenario.yaml, whose paths are relative to the repository (no warning for those).
    rewrite: edits the overridden data before it is validated (harness bisect points the
    app's paths into a commit's worktree). strict: keys of the Serve config file that Ray
    does not know are errors, not warnings."""
    path = Path(path)
    data = read_yaml(path)
    resolve_paths(data, path, warn=None if recorded else warn_stderr)
    export_python_path(path.parent)
    config_overrides = []
    for text in overrides or []:
        key_path, value = parse_override(text)
        if _in_config_file(data, key_path):  # app.config.<key>: a field of the Serve config file
            config_overrides.append((text, key_path[2:], value))
            continue
        apply_override(data, key_path, value, f"{path} (--set {text})")
    if rewrite is not None:
        rewrite(data)
    return scenario_from_dict(data, str(path), config_overrides, strict=strict)


def _in_config_file(data: dict[str, Any], key_path: list[str]) -> bool:
    app = data.get("app")
    return (len(key_path) > 2 and key_path[:2] == ["app", "config"]
            and isinstance(app, dict) and isinstance(app.get("config"), str))


def config_warnings(scenario: Scenario, source: str) -> list[str]:
    """What `harness validate` warns about without refusing: keys of the Serve config file that
    Ray ignores (`num_replicaz: did you mean num_replicas?`). --strict makes them errors."""
    serve = None if scenario.app is None else scenario.app.serve_config
    if serve is None or not serve.unknown:
        return []
    return [f"{serve.source}: {u.line()} (app.config of {source}; --strict refuses it)" for u in serve.unknown]


def scenario_from_dict(
    data: dict[str, Any], source: str, config_overrides: list[tuple[str, list[str], Any]] | None = None,
    strict: bool = False,
) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    except RecursionError:
        raise ConfigError([f"{source}: (file): expected a scenario nested less deeply"]) from None
    attach_serve_config(scenario, source, config_overrides or [])
    problems = check_scenario(scenario, strict)
    if problems:
        raise ConfigError([f"{source}: {key}: {message}" for key, message in problems])
    return scenario
