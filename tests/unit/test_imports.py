"""Every module imports alone, in an interpreter that has imported nothing of the project.

A module that only works after another was imported first (a registration side effect,
an import cycle, an upward import) fails here. The metric catalog lists every module that
registers a metric.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "chaos", "locustfiles")
# Programs rather than modules: `python -m harness` runs the CLI, and Locust loads the
# locustfile with its configuration in the environment (HARNESS_LOAD_CONFIG).
PROGRAMS = {"harness.__main__", "locustfiles.harness_locust"}


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [name for name in names if name not in PROGRAMS]


# The parent loads the third-party packages once, then forks a child per module: each
# child starts with no project module imported, as a fresh interpreter would, without
# paying for importing Ray a hundred times.
_FORKING_IMPORTER = textwrap.dedent("""
    import importlib, json, os, sys, traceback
    import ray, ray.serve, pydantic, yaml, rich, tenacity, psutil, junitparser  # noqa
    failures = {}
    for name in json.loads(sys.argv[1]):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                importlib.import_module(name)
                code = 0
            except BaseException:
                os.write(write, traceback.format_exc()[-2000:].encode())
                code = 1
            os._exit(code)
        os.close(write)
        with os.fdopen(read) as pipe:
            text = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failures[name] = text or f"exit status {status}"
    print(json.dumps(failures))
""")


def test_every_harness_and_chaos_module_imports_alone() -> None:
    modules = [m for m in project_modules() if not m.startswith("locustfiles")]
    done = subprocess.run([sys.executable, "-c", _FORKING_IMPORTER, json.dumps(modules)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{text}" for name, text in failures.items())


def test_every_load_process_module_imports_alone() -> None:
    # Locust monkey-patches at import: each in a truly fresh interpreter, never beside Ray.
    for name in (m for m in project_modules() if m.startswith("locustfiles")):
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"


def test_catalog_lists_every_metric_module() -> None:
    from harness.slo import catalog

    registering = {
        f"harness.slo.{path.stem}"
        for path in (ROOT / "harness" / "slo").glob("*.py")
        if path.stem != "registry" and ("@metric(" in path.read_text() or "\nmetric(" in path.read_text())
    }
    listed = {module.__name__ for module in catalog.MODULES}
    assert registering == listed
