"""Atomic file writes: a reader sees the previous complete file or the new one, never half."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def point_symlink(link: Path, target_name: str) -> None:
    """Make `link` point at `target_name` (relative), replacing it atomically."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")  # concurrent runs share the results root
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(target_name)
    os.replace(tmp, link)


def results_fallback_dir(run_id: str) -> Path:
    """Where a run's final results go when its results dir cannot take them (a full disk)."""
    return Path(tempfile.gettempdir()) / "ray-harness-results" / run_id


def copy_session_logs(ray_temp: Path, dest: Path) -> None:
    """Copy every session's logs under a Ray temp dir (also used after a dead run)."""
    for session in ray_temp.glob("session_2*"):
        logs = session / "logs"
        if logs.is_dir():
            shutil.copytree(logs, dest / session.name, dirs_exist_ok=True, ignore_dangling_symlinks=True)
