"""The Ray actor behind one Locust worker of `load.placement: cluster` (harness.load.cluster_workers).

The actor runs in a Ray worker process on its node. It never imports Locust (gevent
monkey-patches whatever imports it, and a Ray worker must stay unpatched): it starts
the Locust worker as a child process in its own session, owns it, and hands the
harness the child's records in batches (`pull`), so nothing assumes a filesystem
shared with the harness. The child dies with the actor: it is started with
PR_SET_PDEATHSIG, and `stop` (or the actor's own end) kills its process group.

Stdlib, psutil and harness.files only: this module is imported in every Ray worker that hosts a load worker.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.files import write_json_atomic

PR_SET_PDEATHSIG = 1
PULL_MAX_BYTES = 4 << 20  # one batch: bounded, so a backlog never makes one huge object


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the actor's process (thread) dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: stop() and the run's ledger still end it


def boot_id() -> str:
    """Which machine (and boot) a process runs on: equal ids mean the harness can see its pids."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


class LoadWorker:
    """One Locust worker (`--worker`) as a child of this actor, and its record stream."""

    def __init__(self, *, index: int, config: dict[str, Any], locustfile: str, project_root: str):
        self.index = index
        self.dir = Path(tempfile.mkdtemp(prefix=f"rh-loadw{index}-"))
        self.config_path = self.dir / "load_config.json"
        write_json_atomic(self.config_path, {**config, "timeline_dir": str(self.dir)})
        self.stream = self.dir / f"requests-w{index}.jsonl"
        self.log_path = self.dir / f"worker-{index}.log"
        self.locustfile = locustfile
        self.project_root = project_root
        self.popen: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self, master: str, master_port: int, user_class: str, env: dict[str, str]) -> dict[str, Any]:
        """Start the child; returns what the harness records: pid, start time, machine, node."""
        import ray  # the actor's own process is a Ray worker: ray is there

        cmd = [sys.executable, "-m", "locust", "-f", self.locustfile, "--skip-log-setup", "--worker",
               "--master-host", master, "--master-port", str(master_port), user_class]
        child_env = {**os.environ, **env, "HARNESS_LOAD_CONFIG": str(self.config_path),
                     "HARNESS_LOAD_ROLE": "worker", "HARNESS_LOAD_WORKER": str(self.index)}
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.project_root, env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(  # noqa: PLW1509 - preexec_fn only sets the death signal
                cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=self.project_root,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        try:
            create_time = psutil.Process(self.popen.pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        return {"pid": self.popen.pid, "create_time": create_time, "boot_id": boot_id(),
                "node_id": ray.get_runtime_context().get_node_id(), "actor_pid": os.getpid()}

    def pull(self, max_bytes: int = PULL_MAX_BYTES) -> dict[str, Any]:
        """The complete lines written since the last pull; `done` once the child exited and all is read."""
        code = self.popen.poll() if self.popen is not None else None  # read before the file: no lost tail
        data = b""
        try:
            with open(self.stream, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(max_bytes)
        except FileNotFoundError:
            chunk = b""
        end = chunk.rfind(b"\n")
        if end >= 0:
            data = chunk[: end + 1]
            self.offset += len(data)
        more = len(chunk) == max_bytes
        return {"data": data, "lines": data.count(b"\n"), "exit": code,
                "done": code is not None and not more and end + 1 == len(chunk)}

    def log_tail(self, lines: int = 3) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return " | ".join(tail)

    def stop(self, grace_s: float = 5.0) -> int | None:
        """End the child (its whole session) if it still runs; returns its exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.popen.poll() is None:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        return self.popen.returncode

    def cleanup(self) -> None:
        self.stop(grace_s=1.0)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.cleanup()
        except Exception:
            pass


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
