"""The PYTHONPATH of every child the harness starts (Locust processes, cluster-placed load
workers, script workloads, the user-class check, Ray's workers on a local cluster).

A child runs in another folder (Locust in the project root, a worker on another node), so
a relative entry of the user's PYTHONPATH would point elsewhere there: every entry is made
absolute against the folder the harness was started in. Order: the harness's own checkout,
the scenario's folder (`export` records it), the working folder, the user's entries.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import PROJECT_ROOT

# Set by export(): the scenario folder children import the scenario's modules from.
SCENARIO_DIR_ENV = "HARNESS_SCENARIO_DIR"


def python_path(*extra: str | Path, environ: dict[str, str] | None = None) -> str:
    """PYTHONPATH for a child process, every entry absolute, each once."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd()
    user = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    entries = [PROJECT_ROOT, *extra, env.get(SCENARIO_DIR_ENV, ""), cwd, *user]
    absolute = [str((cwd / str(entry)).resolve()) for entry in entries if str(entry)]
    return os.pathsep.join(dict.fromkeys(absolute))


def export(scenario_dir: Path) -> None:
    """Record the scenario's folder for children and make this process's PYTHONPATH the
    children's: a user class or app module beside the scenario imports in every child."""
    os.environ[SCENARIO_DIR_ENV] = str(scenario_dir.resolve())
    os.environ["PYTHONPATH"] = python_path()
