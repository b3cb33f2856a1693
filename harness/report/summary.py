"""summary.json: the run's inputs, versions, metrics and every verdict with its inputs."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.files import write_json_atomic
from harness.outcome import RunOutcome


def versions() -> dict[str, str]:
    out = {"harness": __version__, "python": platform.python_version()}
    for package in ("ray", "locust"):  # from metadata: never import locust here
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


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
