"""One smoke run for two test files: test_run (verdicts, artifacts, live view, teardown) and
test_prometheus (a real Prometheus and Pushgateway fed by the same run, SLOs on Ray's own
metrics). One 3-node cluster start instead of two keeps `make test` short; each file asserts
what it asserted of its own run before.

Prometheus and the Pushgateway are Debian packages (`make prometheus`); where they are
missing the run goes on without them and test_prometheus skips, saying why.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cluster.local import free_port
from tests.integration.conftest import SMOKE, wait_for

LABEL = "it-release"
MISSING = "{} is not installed (Debian package {}; `make prometheus` installs it)"

# The smoke scenario as test_run judges it, plus what test_prometheus needs of the same run.
SMOKE_SETS = [
    # 8 s: `memory_growth` after 2 s of load needs more than the 6 samples that 5 s gave (no data).
    "--set", "duration_s=8",
    "--set", "slos.3={name: impossible latency, check: 'p(50) < 0.001ms'}",
    # Memory SLOs (issue 23): judged on the recorder's memory samples by role.
    "--set", "slos.4={name: replica memory flat, check: 'memory_growth(Echo) < 50%', window: 'after 2s of load'}",
    "--set", "slos.5={name: replica memory peak, check: 'peak_memory(Echo) < 2GB'}",
    # SLOs on Ray's own metrics, scraped from the run's node. Ray's nodes export what their
    # processes report every metrics_report_interval_ms (10 s by default): 1 s keeps an 8 s
    # run's metrics fresh.
    "--set", "cluster.system_config={metrics_report_interval_ms: 1000}",
    "--set", "slos.6={name: Serve counted the requests, "
             "check: 'ray_metric(ray_serve_num_http_requests, increase) >= 10', window: run}",
    "--set", "slos.7={name: no deployment errors, check: "
             "'ray_metric(ray_serve_num_deployment_http_error_requests, rate, deployment=Echo) < 1', "
             "window: run, on_no_data: pass}",
]


@dataclass
class SmokeRun:
    code: int
    stdout: str
    run_dir: Path
    summary: dict
    openmetrics: Path
    prometheus: str | None  # http://127.0.0.1:port, None where the binary is missing
    pushgateway: str | None
    missing: str | None  # why test_prometheus skips


def get(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - 127.0.0.1 only
        return answer.read().decode()


def start(cmd: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{cmd[0]} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            get(ready_url, 1.0)
            return True
        except OSError:
            return False

    wait_for(ready, 30, f"{Path(cmd[0]).name} on {ready_url}")
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def smoke_run(tmp: Path) -> Iterator[SmokeRun]:
    """The run, with Prometheus and the Pushgateway up (where installed) until the session ends."""
    from harness.cli import main

    prometheus_bin, gateway_bin = shutil.which("prometheus"), shutil.which("prometheus-pushgateway")
    missing = next((MISSING.format(name, name) for name, found in
                    (("prometheus", prometheus_bin), ("prometheus-pushgateway", gateway_bin)) if found is None), None)
    live_port, prom_port, gateway_port = free_port(), free_port(), free_port()
    prometheus = gateway = None
    processes: list[subprocess.Popen] = []
    exported = tmp / "run.prom"
    args = ["run", str(SMOKE), "--results", str(tmp / "results"), "--seed", "7", *SMOKE_SETS,
            "--metrics-port", str(live_port), "--openmetrics", str(exported), "--label", LABEL]
    try:
        if missing is None:
            gateway, prometheus = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prom_port}"
            config = tmp / "prometheus.yml"
            config.write_text(json.dumps({  # JSON is YAML: every target on 127.0.0.1, scraped every second
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "harness-live", "static_configs": [{"targets": [f"127.0.0.1:{live_port}"]}]},
                    {"job_name": "pushgateway", "honor_labels": True,
                     "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]},
                ],
            }))
            # In memory only: Debian's build persists to /var/lib/prometheus/pushgateway.data by
            # default, so an earlier run's groups would be read back here.
            processes.append(start([gateway_bin, f"--web.listen-address=127.0.0.1:{gateway_port}",
                                    "--persistence.file="],
                                   f"{gateway}/-/ready", tmp / "pushgateway.log"))
            processes.append(start([prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                    f"--web.listen-address=127.0.0.1:{prom_port}"],
                                   f"{prometheus}/-/ready", tmp / "prometheus.log"))
            args += ["--pushgateway", gateway]
        out = io.StringIO()
        # 200 columns: the live view's plain lines are asserted whole.
        with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(out):
            env.setenv("COLUMNS", "200")
            code = main(args)
        run_dir = (tmp / "results" / "latest").resolve()
        summary = json.loads((run_dir / "summary.json").read_text())
        yield SmokeRun(code, out.getvalue(), run_dir, summary, exported, prometheus, gateway, missing)
    finally:
        for process in reversed(processes):
            stop(process)
