"""Runs Locust headless in its own process (gevent never enters the Ray driver).

The load process writes its own stream of the timeline (requests.jsonl); this
module only starts it, watches it and stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.config import LoadSpec
from harness.procs import ProcessLedger
from harness.timeline import REQUESTS_FILE, TIMELINE_DIR

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "harness_locust.py"


class LoadError(Exception):
    """The load process failed: an infrastructure error, not a verdict on the release."""


class LoadProcess:
    def __init__(
        self,
        run_dir: Path,
        spec: LoadSpec,
        target_url: str,
        duration_s: float,
        seed: int,
        ledger: ProcessLedger,
    ):
        if not target_url.startswith("http://127.0.0.1:"):
            raise LoadError(f"load goes to loopback only, not {target_url}")
        self.run_dir = run_dir
        self.spec = spec
        self.target_url = target_url
        self.duration_s = duration_s
        self.seed = seed
        self.ledger = ledger
        self.output_dir = run_dir / "locust"
        self.requests_path = run_dir / TIMELINE_DIR / REQUESTS_FILE
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE),
            "--headless",
            "--host", self.target_url,
            "-u", str(self.spec.users),
            "-r", str(self.spec.spawn_rate),
            "-t", f"{max(1, round(self.duration_s))}s",
            "--stop-timeout", str(max(1, int(self.spec.request_timeout_s))),
            "--csv", str(self.output_dir / "locust"),
            "--html", str(self.output_dir / "locust.html"),
            "--only-summary",
            "--exit-code-on-error", "0",
            "--skip-log-setup",
        ]

    def start(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.requests_path.parent.mkdir(parents=True, exist_ok=True)
        config_path = self.output_dir / "load_config.json"
        config = {**self.spec.model_dump(), "requests_out": str(self.requests_path), "seed": self.seed}
        config_path.write_text(json.dumps(config, indent=2))
        env = dict(os.environ)
        env["HARNESS_LOAD_CONFIG"] = str(config_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        self._log = open(self.output_dir / "locust.log", "wb")  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C at the terminal reaches the harness, which stops load in order.
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=PROJECT_ROOT, start_new_session=True,
        )
        self.ledger.add(psutil.Process(self.process.pid))

    def wait_started(self, timeout_s: float) -> None:
        """Wait for the first record; raise LoadError if the process dies or stays silent."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.requests_path.exists() and self.requests_path.stat().st_size > 0:
                return
            code = self.poll()
            if code is not None:
                raise LoadError(f"locust exited with code {code} before sending load; see {self.log_tail()}")
            time.sleep(0.1)
        raise LoadError(f"locust sent nothing within {timeout_s:g}s; see {self.log_tail()}")

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 3) -> str:
        path = self.output_dir / "locust.log"
        try:
            tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return str(path)
        return f"{path}: " + " | ".join(tail)

    def stop(self, grace_s: float = 10.0) -> int | None:
        """Ask Locust to stop (it writes its stats), then kill it if it lingers."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
        return self.process.returncode
