"""summary.json: the run's inputs, versions, metrics and every verdict with its inputs."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.files import write_json_atomic
from harness.model.outcome import RunOutcome


def versions() -> dict[str, str]:
    out = {"harness": __version__, "python": platform.python_version()}
    for package in ("ray", "locust"):  # from metadata: never import locust here
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def app_version(app: Any) -> str:
    """The version of the app under test: the built-in app is the harness's; an import
    path's top-level package's installed version, when it is an installed distribution."""
    if app is None:  # a workload-only run (app: none)
        return "none"
    import_path = getattr(app, "import_path", None)
    if import_path is None:
        return f"builtin-{__version__}"
    top = import_path.split(":")[0].split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return f"unversioned ({import_path})"


def build_summary(outcome: RunOutcome, resolved_config: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "run_id": outcome.run_id,
        "scenario": outcome.scenario_name,
        "scenario_file": outcome.scenario_file,
        "seed": outcome.seed,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "error": None if outcome.error is None else {"kind": outcome.error_kind, "message": outcome.error},
        "notes": outcome.notes,
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "reproduce": outcome.reproduce_command,
        "versions": versions(),
        "timings": outcome.timings,
        "metrics": outcome.metrics,
        "verdicts": [v.as_dict() for v in outcome.verdicts],
        "config": resolved_config,
        **(extra or {}),
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    write_json_atomic(path, summary)
