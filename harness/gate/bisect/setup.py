"""`--setup CMD`: install a commit's app dependencies into a venv of its own, once per commit.

The venv (<results>/bisect-cache/<commit>-<hash of CMD>/venv) is made with the harness's
Python and sees the harness's packages (Ray, Serve) through a .pth file, so CMD installs
only what the app adds (`pip install -r requirements.txt`: VIRTUAL_ENV and PATH point at
the venv). CMD runs in the commit's worktree. The app's replicas get the venv's
site-packages first on their PYTHONPATH (harness.gate.bisect.commit_run). A venv whose
CMD succeeded is reused by later runs and later bisects of the same commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from harness.files import write_atomic, write_json_atomic

DONE_FILE = ".harness-setup.json"
SETUP_TIMEOUT_S = 1800


class SetupError(Exception):
    """CMD failed in a commit's worktree: no verdict on that commit."""


def cache_dir(results_root: Path, commit: str, command: str) -> Path:
    digest = hashlib.sha256(command.encode()).hexdigest()[:10]
    return results_root / "bisect-cache" / f"{commit[:12]}-{digest}"


def site_packages(venv_dir: Path) -> Path:
    paths = sysconfig.get_paths(vars={"base": str(venv_dir), "platbase": str(venv_dir)})
    return Path(paths["purelib"])


def prepare(results_root: Path, commit: str, command: str, worktree: Path, log: Path) -> Path:
    """The commit's venv site-packages, running CMD first unless a cached run succeeded."""
    folder = cache_dir(results_root, commit, command)
    venv_dir = folder / "venv"
    done = folder / DONE_FILE
    if done.is_file() and site_packages(venv_dir).is_dir():
        return site_packages(venv_dir)
    shutil.rmtree(venv_dir, ignore_errors=True)  # a setup that failed or was stopped
    venv.EnvBuilder(with_pip=False, symlinks=True).create(venv_dir)
    packages = site_packages(venv_dir)
    packages.mkdir(parents=True, exist_ok=True)
    # The harness's own packages (Ray, Serve, pip) stay importable in the venv.
    write_atomic(packages / "_harness_base.pth", "\n".join(site.getsitepackages()) + "\n")
    env = {**os.environ, "VIRTUAL_ENV": str(venv_dir),
           "PATH": f"{venv_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "HARNESS_BISECT_COMMIT": commit, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONHOME", None)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            code = subprocess.run(command, shell=True, cwd=worktree, env=env, stdout=out,  # noqa: S602 - the user's own command
                                  stderr=subprocess.STDOUT, timeout=SETUP_TIMEOUT_S, check=False).returncode
        except subprocess.TimeoutExpired:
            raise SetupError(f"--setup did not finish in {SETUP_TIMEOUT_S} s at {commit[:12]} (log {log})") from None
    if code != 0:
        raise SetupError(f"--setup exited {code} at {commit[:12]} (log {log})")
    write_json_atomic(done, {"commit": commit, "command": command, "python": sys.executable})
    return packages


def setup_record(folder: Path) -> dict[str, str] | None:
    try:
        return json.loads((folder / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None
