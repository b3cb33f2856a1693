"""Paths in a scenario resolve against the scenario file's folder, as Compose, Kustomize
and Serve's own config files do: `harness run path/to/scenario.yaml` works from anywhere.

The keys: `app.config`, `workloads.N.path` (script workloads), `load.shape.csv`,
`load.requests.N.body_template.FIELD.line_of`. (A Serve config's own paths already resolve
against that file: harness.app.serve_config.) A relative path that exists only relative to
the working folder is the old behaviour: it still works for one release, with a warning.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Warn = Callable[[str], None]


def warn_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def path_slots(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(key path, the mapping holding it, its key) for every path-valued key of a scenario."""
    app = data.get("app")
    if isinstance(app, dict) and isinstance(app.get("config"), str):
        yield "app.config", app, "config"
    for index, work in enumerate(data.get("workloads") or []):
        if isinstance(work, dict) and work.get("type") == "script" and isinstance(work.get("path"), str):
            yield f"workloads.{index}.path", work, "path"
    load = data.get("load")
    if not isinstance(load, dict):
        return
    shape = load.get("shape")
    if isinstance(shape, dict) and isinstance(shape.get("csv"), str):
        yield "load.shape.csv", shape, "csv"
    for index, request in enumerate(load.get("requests") or []):
        template = request.get("body_template") if isinstance(request, dict) else None
        for field, spec in (template.items() if isinstance(template, dict) else []):
            if isinstance(spec, dict) and isinstance(spec.get("line_of"), str):
                yield f"load.requests.{index}.body_template.{field}.line_of", spec, "line_of"


def resolve_paths(data: dict[str, Any], scenario_file: Path, warn: Warn | None = warn_stderr) -> None:
    """Resolve every relative path of `data` against the scenario file's folder, in place
    (written relative to the working folder when inside it, absolute otherwise). One that
    exists only relative to the working folder is left as it is, with a warning (`warn=None`:
    silently, for a recorded scenario whose paths are the repository's)."""
    base = scenario_file.resolve().parent
    cwd = Path.cwd()
    for key, holder, name in path_slots(data):
        value = holder[name]
        if not value or "://" in value or Path(value).is_absolute():
            continue
        beside = base / value
        if not beside.exists() and Path(value).exists():
            if warn is not None:
                warn(f"warning: {scenario_file}: {key}: {value!r} is found relative to the working "
                     f"folder, not the scenario's folder ({base}); this fallback ends in the next "
                     f"release: write it relative to {scenario_file.name}")
            continue  # as before: relative to the working folder
        # Short where it can be: relative to the working folder when it lies inside it.
        resolved = beside.resolve()
        holder[name] = str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(resolved)


def relative_paths(data: dict[str, Any], root: Path) -> None:
    """The inverse for a recorded scenario: absolute paths under `root` (the repository the
    run started in) become relative to it, so a run folder downloaded from CI replays in
    another checkout (`harness reproduce` resolves them against the working folder)."""
    for _key, holder, name in path_slots(data):
        path = Path(holder[name])
        if path.is_absolute() and path.is_relative_to(root):
            holder[name] = str(path.relative_to(root))
