"""Any Python driver script beside the traffic (an existing Ray release test, say).

The script runs as a subprocess of the harness with RAY_ADDRESS set to the run's
cluster and RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (loopback clusters), and
TEST_OUTPUT_JSON naming the file it may write its results to, as Ray's release
tests do. It is judged by its exit code and by that JSON: every numeric field
becomes a metric (nested keys joined with dots; Ray's `perf_metrics` list by
`perf_metric_name`). Its output goes to workloads/<name>.log in the run's results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from harness.measure.records import WorkloadRecord
from harness.model.context import RunContext
from harness.model.scenario import ScriptWorkloadSpec
from harness.pythonpath import python_path
from harness.slo.causes import log_cause
from harness.workloads.base import Workload

POLL_S = 0.2
TERM_GRACE_S = 5.0


def numeric_fields(data: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a script's output JSON, by dotted key."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "perf_metrics" and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "perf_metric_name" in item:
                        out.update(numeric_fields(item.get("perf_metric_value"), f"{prefix}{item['perf_metric_name']}"))
                continue
            out.update(numeric_fields(value, f"{prefix}{key}."))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out[prefix.rstrip(".")] = float(data)
    return out


class ScriptWorkload(Workload):
    def __init__(self, spec: ScriptWorkloadSpec):
        super().__init__(spec.name, spec.timeout_s)
        self.spec = spec
        self.process: subprocess.Popen[bytes] | None = None
        self.output_json: Path | None = None
        self.log_path: Path | None = None
        self._started = 0.0

    def command(self) -> list[str]:
        return [sys.executable, str(Path(self.spec.path).resolve()), *self.spec.args]

    def prepare(self, ctx: RunContext) -> None:
        folder = ctx.run_dir / "workloads"
        folder.mkdir(parents=True, exist_ok=True)
        self.output_json = folder / f"{self.spec.name}.json"
        self.log_path = folder / f"{self.spec.name}.log"
        env = {
            **os.environ,
            **self.spec.env,
            "RAY_ADDRESS": ctx.cluster.address if ctx.cluster is not None else "",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "TEST_OUTPUT_JSON": str(self.output_json),
            "HARNESS_WORKLOAD_SEED": str(self.seed(ctx)),  # for a script's own random choices
            "PYTHONPATH": python_path(),  # the scenario's folder and the user's entries, absolute
        }
        with open(self.log_path, "wb") as log:
            # Own session: the harness stops it (and anything it started) as a group.
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=os.getcwd(), start_new_session=True,
            )
        self._started = time.monotonic()
        ctx.ledger.add(psutil.Process(self.process.pid))
        ctx.timeline.emit(WorkloadRecord, name=self.spec.name, event="process", pid=self.process.pid,
                          command=self.command())

    def partial(self) -> dict[str, Any]:
        return {"workload": "script", "pid": None if self.process is None else self.process.pid}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        assert self.process is not None
        while self.process.poll() is None and not self.should_stop():
            time.sleep(POLL_S)
        timed_out = self.process.poll() is None
        if timed_out:
            self._terminate()
        code = self.process.returncode
        fields: dict[str, Any] = {
            **self.partial(), "exit_code": code, "timed_out": timed_out,
            "seconds": round(time.monotonic() - self._started, 3), "log": str(self.log_path),
        }
        fields["metrics"] = self._read_output(fields)
        fields["passed"] = code == 0 and not timed_out
        # The cause first (the line of its output that names it), then where to read more.
        cause = None if self.log_path is None else log_cause(self.log_path)
        if timed_out:
            said = f"; last output: {cause}" if cause else ""
            fields["why"] = f"script stopped after {self.spec.timeout_s:g}s (exit code {code}){said}; log {self.log_path}"
        elif code != 0:
            fields["why"] = (f"{cause} (script exited with code {code}; log {self.log_path})" if cause
                             else f"script exited with code {code} and printed nothing; log {self.log_path}")
        if cause and code != 0:
            fields["error_line"] = cause
        return fields

    def _read_output(self, fields: dict[str, Any]) -> dict[str, float]:
        if self.output_json is None or not self.output_json.exists():
            return {}
        try:
            return numeric_fields(json.loads(self.output_json.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            fields["output_error"] = f"{self.output_json}: {exc}"[:300]
            return {}

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=TERM_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue

    def cleanup(self, ctx: RunContext) -> None:
        self._terminate()
