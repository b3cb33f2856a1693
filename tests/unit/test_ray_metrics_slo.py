"""Ray's own metrics in (issue 25): the scraper's parse, the record, and the SLOs that read it."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from harness.measure.records import RayMetrics
from harness.model.scenario import SLOSpec
from harness.run.ray_scrape import parse_exposition
from harness.slo.core import evaluate, validate_checks
from harness.slo.ray import families_named
from tests.unit.slo_timelines import T0, phase, sample, timeline

TARGET = "ray_serve_autoscaling_target_replicas"
ERRORS = "ray_serve_num_deployment_http_error_requests"


def exposition(errors: float, target: float, noise: int = 50) -> str:
    """What a Ray node exports, written by prometheus-client as Ray's agent writes it."""
    registry = CollectorRegistry()
    Counter(ERRORS, "errors", ["deployment", "application"], registry=registry).labels("Echo", "default").inc(errors)
    Gauge(TARGET, "target", ["deployment", "application"], registry=registry).labels("Echo", "default").set(target)
    for k in range(noise):  # the hundreds of families an SLO does not name
        Gauge(f"ray_other_{k}", "noise", ["NodeAddress"], registry=registry).labels("127.0.0.1").set(k)
    return generate_latest(registry).decode()


def test_parse_keeps_only_the_named_families_and_lists_them_all():
    families, samples = parse_exposition(exposition(4, 2), {ERRORS, TARGET})
    assert len(families) == 52 and f"{ERRORS}_total" in families
    names = {s[0] for s in samples}
    assert names == {f"{ERRORS}_total", TARGET}
    values = {s[0]: s[2] for s in samples}
    assert values[f"{ERRORS}_total"] == 4 and values[TARGET] == 2
    assert next(s for s in samples if s[0] == TARGET)[1] == {"deployment": "Echo", "application": "default"}


def scrape(at: float, errors: float, target: float, node: str = "head", families: bool = True) -> dict:
    found, samples = parse_exposition(exposition(errors, target, noise=1), {ERRORS, TARGET})
    fields = {"families": found} if families else {}
    return RayMetrics.new(t=T0 + at, node=node, port=9999, samples=samples, scrape_ms=1.0, **fields)


def run(scrapes: list[dict], samples: list[dict] | None = None):
    return timeline(phase("run", 0, 40), phase("load", 5, 25), scrapes, samples or [])


def judge(check: str, tl, window: str | None = None):
    return evaluate(SLOSpec(name="x", check=check, window=window), tl)


def test_rate_is_the_counter_increase_per_second_of_the_window():
    tl = run([scrape(at, errors=e, target=1) for at, e in [(4, 0), (10, 10), (20, 30), (26, 40)]])
    verdict = judge(f"ray_metric({ERRORS}, rate, deployment=Echo) < 1", tl)
    # load 5..25: 0 before it, 30 at 20 s: 30 over 20 s
    assert verdict.measured == pytest.approx(1.5) and not verdict.passed
    assert judge(f"ray_metric({ERRORS}_total, increase, deployment=Echo) == 30", tl).passed


def test_gauge_aggregations_sum_the_nodes():
    tl = run([scrape(10, 0, 2), scrape(10.1, 0, 1, node="worker-1"), scrape(20, 0, 3)])
    assert judge(f"ray_metric({TARGET}, max, deployment=Echo) == 4", tl).passed  # 3 (head) + 1 (worker)
    assert judge(f"ray_metric({TARGET}, min) == 2", tl).passed


def test_no_data_says_why():
    assert "not scraped" in judge(f"ray_metric({TARGET}, max) >= 1", run([])).message
    tl = run([scrape(10, 0, 2)])
    assert "no series of" in judge(f"ray_metric({TARGET}, max, deployment=Other) >= 1", tl).message
    assert "never exported ray_node_cpu" in judge("ray_metric(ray_node_cpu, max) >= 1", tl).message


@pytest.mark.parametrize("check, expected", [
    ("ray_metric(ray_serve_not_a_metric, max) < 1", "installed Ray Serve exports"),
    (f"ray_metric({TARGET}, p99) < 1", "aggregation"),
    (f"ray_metric({TARGET}) < 1", "expected ray_metric(NAME"),
    (f"ray_metric({TARGET}, max, deployment) < 1", "label=value"),
    ("ray_metric(serve_x, max) < 1", "starting with ray_"),
])
def test_validation_names_the_mistake(check, expected):
    problems = validate_checks([SLOSpec(check=check)])
    assert problems and expected in problems[0][1]


def test_families_named():
    assert families_named([f"ray_metric({ERRORS}_total, rate) < 1", "decision_to_running(Echo) < 10s",
                           "p(99) < 1s"]) == {ERRORS, TARGET}


def test_decision_to_running_from_the_exported_target_to_running_replicas():
    scrapes = [scrape(at, 0, target) for at, target in [(6, 1), (8, 3), (20, 3), (30, 1)]]
    running = [sample(at, running=r) for at, r in [(6, 1), (9, 1), (11, 2), (13, 3), (31, 1)]]
    verdict = judge("decision_to_running(Echo) < 10s", run(scrapes, running))
    assert verdict.passed and verdict.measured == pytest.approx(5.0)  # target 3 at 8 s, 3 running at 13 s
    assert verdict.inputs["rises"] == [{"at_s": 8.0, "target": 3.0, "waited_s": 5.0}]
    late = [sample(at, running=r) for at, r in [(6, 1), (9, 1), (25, 2)]]
    never = judge("decision_to_running(Echo) < 10s", run(scrapes, late))
    assert not never.passed and math.isinf(never.measured) and "never reached the target 3" in never.message


def test_decision_to_running_without_a_rise_is_no_data():
    flat = run([scrape(at, 0, 1) for at in (6, 10, 20)], [sample(10, running=1)])
    verdict = judge("decision_to_running(Echo) < 10s", flat)
    assert not verdict.passed and verdict.no_data and "never rose" in verdict.message


def test_the_report_charts_each_named_family():
    from harness.report.chart_series import build_series

    tl = run([scrape(at, errors=e, target=t) for at, e, t in [(4, 0, 1), (10, 10, 3), (20, 30, 3)]])
    charts = {c.key: c for c in build_series(tl).charts}
    target = charts[f"ray-{TARGET}"]
    assert [p[1] for p in target.series[0].points] == [1, 3, 3] and target.series[0].step
    errors = charts[f"ray-{ERRORS}_total"]
    assert errors.title.endswith("(per second)") and [p[1] for p in errors.series[0].points] == [
        pytest.approx(10 / 6), pytest.approx(2.0)]


def test_ray_slos_on_an_existing_cluster_are_refused(tmp_path):
    import yaml

    from harness.model.errors import ConfigError
    from harness.scenario.loader import load_scenario

    data = yaml.safe_load(open("configs/scenarios/smoke.yaml").read())
    data["cluster"] = {"address": "127.0.0.1:6379"}
    data["slos"] = [{"check": f"ray_metric({TARGET}, max) >= 1"}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as refused:
        load_scenario(path)
    assert any("slos.0.check" in line and "run's own nodes" in line for line in refused.value.lines)


def test_the_scraper_reads_only_the_runs_own_nodes_and_records_a_failed_scrape(tmp_path):
    import types

    from harness.cluster.local import free_port
    from harness.measure.timeline import Timeline, TimelineWriter
    from harness.model.cluster_handle import ClusterHandle, NodeHandle
    from harness.run.ray_scrape import RayScraper

    closed = free_port()  # nothing listens: the scrape fails, as against a node that just died
    nodes = {"head": NodeHandle(name="head", spec=None, node_id="n1", is_head=True, metrics_export_port=closed),
             "gone": NodeHandle(name="gone", spec=None, node_id="n2", is_head=False, alive=False, metrics_export_port=free_port())}
    writer = TimelineWriter(tmp_path / "timeline" / "events.jsonl")
    ctx = types.SimpleNamespace(cluster=ClusterHandle(address="127.0.0.1:1", owned=True, nodes=nodes), timeline=writer)
    scraper = RayScraper(None, {TARGET})
    assert scraper.targets(ctx) == {"head": closed}
    scraper._round(ctx)
    writer.close()
    (record,) = Timeline.load(tmp_path).events_of(RayMetrics)
    assert record[RayMetrics.node] == "head" and "Connection refused" in record[RayMetrics.error]
    assert scraper.metrics()["ray_scrape_errors"] == 1
    ctx.cluster.owned = False  # an existing cluster: never scraped
    assert scraper.targets(ctx) == {}


def test_a_decision_withdrawn_before_its_replicas_ran_is_never_met():
    """The autoscaler asked for 3, nothing started, then it asked for 1 again: not a success."""
    scrapes = [scrape(at, 0, target) for at, target in [(6, 1), (8, 3), (20, 1)]]
    stuck = [sample(at, running=1) for at in (6, 9, 15, 21, 30)]
    verdict = judge("decision_to_running(Echo) < 30s", run(scrapes, stuck))
    assert not verdict.passed and math.isinf(verdict.measured)
    assert "lowered again by 21.0s, before they ran" in verdict.message
