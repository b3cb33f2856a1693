"""Observability both ways against the real thing (issue 25).

The session's smoke run (tests/integration/smoke_support.py, judged by test_run too) feeds a
real Prometheus and a real Pushgateway, both started on free ports of 127.0.0.1 and stopped
(and reaped) at the end: Prometheus scrapes the run's `--metrics-port` live and the
Pushgateway, and the tests read the counters, verdicts and metrics back through Prometheus's
HTTP query API and the Pushgateway's own endpoint. The run's SLOs on Ray's own metrics
(scraped from the run's node) must have data and pass. Skipped, with the reason, where the
binaries are missing (`make prometheus` installs them: Debian packages).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import surviving_run_processes, wait_for
from tests.integration.smoke_support import LABEL, SmokeRun, get

pytestmark = pytest.mark.integration

SCENARIO_NAME = "smoke"


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
def observed(smoke: SmokeRun) -> Observed:
    if smoke.missing is not None:
        pytest.skip(smoke.missing)
    assert smoke.code in (0, 1), smoke.stdout[-3000:]
    assert not surviving_run_processes(smoke.run_dir)
    assert smoke.prometheus is not None and smoke.pushgateway is not None
    return Observed(smoke.prometheus, smoke.pushgateway, smoke.summary, smoke.openmetrics, smoke.stdout)


def test_live_counters_reach_a_real_prometheus(observed: Observed) -> None:
    run = observed.summary["run_id"]
    # The endpoint closed with the run: its series are stale now, so read them over a range.
    sent = observed.query(f'last_over_time(harness_live_requests_sent_total{{run="{run}"}}[5m])')
    assert sent, f"Prometheus has no live counters of run {run}"
    assert sent[0]["metric"]["scenario"] == SCENARIO_NAME and sent[0]["metric"]["job"] == "harness-live"
    # Scraped while the run went on: up to the final count (the last second may be missed).
    assert 10 <= float(sent[0]["value"][1]) <= observed.summary["metrics"]["requests"]
    replicas = observed.query(f'max_over_time(harness_live_replicas{{run="{run}",state="running"}}[5m])')
    assert replicas and float(replicas[0]["value"][1]) == 2  # smoke's Echo: 2 replicas
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
        return observed.query(f'harness_slo_passed{{job="harness",scenario="{SCENARIO_NAME}",release="{LABEL}"}}')

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
