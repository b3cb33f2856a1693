"""Observability both ways against the real thing (issue 25).

One short run (tests/integration/scenarios/prometheus.yaml) feeds a real Prometheus and a
real Pushgateway, both started here on free ports of 127.0.0.1 and stopped (and reaped)
at the end: Prometheus scrapes the run's `--metrics-port` live and the Pushgateway, and
the tests read the counters, verdicts and metrics back through Prometheus's HTTP query
API and the Pushgateway's own endpoint. The run's SLOs on Ray's own metrics (scraped
from the run's node) must have data and pass. Skipped, with the reason, where the
binaries are missing (`make prometheus` installs them: Debian packages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.cluster.local import free_port
from tests.integration.conftest import ROOT, surviving_run_processes, wait_for

pytestmark = pytest.mark.integration

SCENARIO = ROOT / "tests" / "integration" / "scenarios" / "prometheus.yaml"
LABEL = "it-release"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {name}; `make prometheus` installs it)")
    return found


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


@dataclass
class Observed:
    prometheus: str  # http://127.0.0.1:port
    pushgateway: str
    summary: dict
    openmetrics: Path
    stdout: str

    def query(self, expr: str) -> list[dict]:
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        answer = json.loads(get(url))
        assert answer["status"] == "success", answer
        return answer["data"]["result"]


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Iterator[Observed]:
    prometheus_bin, gateway_bin = binary("prometheus"), binary("prometheus-pushgateway")
    tmp = tmp_path_factory.mktemp("prometheus")
    live_port, prom_port, gateway_port = free_port(), free_port(), free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    config = tmp / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML: every target on 127.0.0.1, scraped every second
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "harness-live", "static_configs": [{"targets": [f"127.0.0.1:{live_port}"]}]},
            {"job_name": "pushgateway", "honor_labels": True,
             "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]},
        ],
    }))
    processes = []
    try:
        processes.append(start([gateway_bin, f"--web.listen-address=127.0.0.1:{gateway_port}"],
                               f"{gateway}/-/ready", tmp / "pushgateway.log"))
        processes.append(start([prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"],
                               f"http://127.0.0.1:{prom_port}/-/ready", tmp / "prometheus.log"))
        results, exported = tmp / "results", tmp / "run.prom"
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", str(SCENARIO), "--results", str(results),
             "--metrics-port", str(live_port), "--pushgateway", gateway, "--openmetrics", str(exported),
             "--label", LABEL],
            capture_output=True, text=True, timeout=240, cwd=ROOT,
        )
        run_dir = (results / "latest").resolve()
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
        assert not surviving_run_processes(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text())
        yield Observed(f"http://127.0.0.1:{prom_port}", gateway, summary, exported, done.stdout)
    finally:
        for process in reversed(processes):
            stop(process)


def test_live_counters_reach_a_real_prometheus(observed: Observed) -> None:
    run = observed.summary["run_id"]
    # The endpoint closed with the run: its series are stale now, so read them over a range.
    sent = observed.query(f'last_over_time(harness_live_requests_sent_total{{run="{run}"}}[5m])')
    assert sent, f"Prometheus has no live counters of run {run}"
    assert sent[0]["metric"]["scenario"] == "prometheus-short" and sent[0]["metric"]["job"] == "harness-live"
    # Scraped while the run went on: up to the final count (the last second may be missed).
    assert 10 <= float(sent[0]["value"][1]) <= observed.summary["metrics"]["requests"]
    replicas = observed.query(f'max_over_time(harness_live_replicas{{run="{run}",state="running"}}[5m])')
    assert replicas and float(replicas[0]["value"][1]) == 1
    latency = observed.query(f'max_over_time(harness_live_request_latency_seconds_count{{run="{run}"}}[5m])')
    assert latency and float(latency[0]["value"][1]) >= 10


def test_verdicts_pushed_to_a_real_pushgateway_read_back_there_and_in_prometheus(observed: Observed) -> None:
    assert f"pushed to {observed.pushgateway}" in observed.stdout
    verdicts = {v["name"]: v for v in observed.summary["verdicts"]}
    pushed = {}
    for family in text_string_to_metric_families(get(f"{observed.pushgateway}/metrics")):
        for sample in family.samples:
            if sample.name == "harness_slo_passed":
                assert sample.labels["job"] == "harness" and sample.labels["release"] == LABEL
                assert sample.labels["run"] == observed.summary["run_id"]
                pushed[sample.labels["slo"]] = sample.value
    assert pushed == {name: float(v["passed"]) for name, v in verdicts.items()}

    def in_prometheus() -> list[dict]:
        return observed.query(f'harness_slo_passed{{job="harness",scenario="prometheus-short",release="{LABEL}"}}')

    found = wait_for(in_prometheus, 15, "the pushed verdicts in Prometheus")
    assert {r["metric"]["slo"] for r in found} == set(verdicts)
    # The file copy (--openmetrics) holds the same verdicts.
    text = observed.openmetrics.read_text()
    assert text.count("harness_slo_passed{") == len(verdicts)


def test_slos_on_rays_own_metrics_are_judged_from_the_scraped_node(observed: Observed) -> None:
    verdicts = {v["name"]: v for v in observed.summary["verdicts"]}
    counted = verdicts["Serve counted the requests"]
    assert counted["passed"] and not counted["no_data"], counted["message"]
    assert counted["measured"] <= observed.summary["metrics"]["requests"] + 5  # Serve saw what was sent
    # Serve exports its error counter only once an error happened: none here, so no data (passes).
    assert verdicts["no deployment errors"]["passed"], verdicts["no deployment errors"]["message"]
    assert observed.summary["metrics"]["ray_scrapes"] > 5 and observed.summary["metrics"]["ray_scrape_errors"] == 0
