"""A run's verdicts and metrics in Prometheus's text format: a file, or a Pushgateway push.

Built only from stored results (summary.json and the timeline), like every reporter, by
a prometheus-client collector: `openmetrics.prom` in each run folder (what node_exporter's
textfile collector and Prometheus read), `--openmetrics FILE` a copy of it, and
`--pushgateway URL` the same metrics pushed under job `harness` grouped by scenario (and
release label). Every series carries scenario, run, seed and release; docs/prometheus.md
lists the names.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from harness.measure import stats
from harness.measure.chaos_events import is_chaos_event
from harness.measure.records import Chaos, Dropped, Request
from harness.measure.timeline import Timeline
from harness.report.chart_series import SETUP_WINDOWS
from harness.report.html import load_summary

RUN_FILE = "openmetrics.prom"
JOB = "harness"
BASE_LABELS = ("scenario", "run", "seed", "release")
SLO_LABELS = (*BASE_LABELS, "slo", "check", "window", "unit")
# Latency buckets (seconds), the same as the live exposition's (harness.run.live_metrics).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _interval(verdict: dict[str, Any]) -> tuple[float | None, float | None]:
    """A verdict's interval sides, when it has one ({low, high, ...} or [low, high]); None: open or absent."""
    found = verdict.get("interval")
    if isinstance(found, dict):
        found = [found.get("low", found.get("lower")), found.get("high", found.get("upper"))]
    if isinstance(found, (list, tuple)) and len(found) == 2:
        return _number(found[0]), _number(found[1])
    return None, None


class RunCollector(Collector):
    """Every metric of one stored run (summary.json as a dict, its timeline)."""

    def __init__(self, summary: dict[str, Any], timeline: Timeline | None):
        self.summary = summary
        self.timeline = timeline
        self.base = [str(summary.get("scenario", "")), str(summary.get("run_id", "")),
                     str(summary.get("seed", "")), str(summary.get("release") or "")]

    def collect(self) -> Iterator[Metric]:
        yield from self._run()
        yield from self._verdicts()
        if self.timeline is not None:
            yield from self._requests(self.timeline)
            yield from self._chaos(self.timeline)
            yield from self._phases(self.timeline)

    def _gauge(self, name: str, doc: str, value: float, **extra: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=[*BASE_LABELS, *extra])
        family.add_metric([*self.base, *extra.values()], value)
        return family

    def _run(self) -> Iterator[Metric]:
        s = self.summary
        status = str(s.get("status", ""))
        yield self._gauge("harness_run_passed", "1: every SLO passed; 0: failed or no verdict (error)",
                          1.0 if status == "passed" else 0.0)
        yield self._gauge("harness_run_exit_code", "0 passed, 1 an SLO failed, 2 invalid config, 3 infrastructure",
                          float(s.get("exit_code", 3)))
        error = s.get("error") or {}
        yield self._gauge("harness_run_status", "the run's status (1 on its label)", 1.0,
                          status=status, error_kind=str(error.get("kind") or ""))
        started, ended = _number(s.get("started_at")), _number(s.get("ended_at"))
        if started is not None:
            yield self._gauge("harness_run_start_timestamp_seconds", "when the run started (Unix time)", started)
            if ended is not None and ended >= started:
                yield self._gauge("harness_run_duration_seconds", "the run, start to results", ended - started)

    def _verdicts(self) -> Iterator[Metric]:
        doc = {
            "passed": "1: the SLO held; 0: it did not (no data counts as its on_no_data policy says)",
            "measured": "the value the SLO measured, in its unit (absent: no data)",
            "bound": "the SLO's bound, in its unit",
            "no_data": "1: nothing was measured; the verdict is the SLO's on_no_data policy",
            "interval_low": "lower end of the measured value's interval (verdicts that have one)",
            "interval_high": "upper end of the measured value's interval (verdicts that have one)",
        }
        families = {key: GaugeMetricFamily(f"harness_slo_{key}", text, labels=list(SLO_LABELS))
                    for key, text in doc.items()}
        outcome = GaugeMetricFamily("harness_slo_outcome", "the verdict's outcome word (1 on its label)",
                                    labels=[*SLO_LABELS, "outcome"])
        for verdict in self.summary.get("verdicts") or []:
            labels = [*self.base, str(verdict.get("name", "")), str(verdict.get("check", "")),
                      str(verdict.get("window", "")), str(verdict.get("unit", ""))]
            families["passed"].add_metric(labels, 1.0 if verdict.get("passed") else 0.0)
            families["no_data"].add_metric(labels, 1.0 if verdict.get("no_data") else 0.0)
            measured, bound = _number(verdict.get("measured")), _number(verdict.get("bound"))
            if measured is not None:
                families["measured"].add_metric(labels, measured)
            if bound is not None:
                families["bound"].add_metric(labels, bound)
            low, high = _interval(verdict)
            if low is not None:
                families["interval_low"].add_metric(labels, low)
            if high is not None:
                families["interval_high"].add_metric(labels, high)
            if isinstance(verdict.get("outcome"), str) and verdict["outcome"]:
                outcome.add_metric([*labels, verdict["outcome"]], 1.0)
        yield from families.values()
        yield outcome

    def _requests(self, timeline: Timeline) -> Iterator[Metric]:
        window = timeline.window("load")
        if window is None:
            return
        finals = timeline.requests_in(window)
        by_outcome: dict[str, list[float]] = {}
        for record in finals:
            latency = _number(record.get(Request.latency_ms))
            by_outcome.setdefault(stats.outcome_of(record), []).append(
                math.nan if latency is None else latency / 1000.0)
        requests = CounterMetricFamily("harness_requests", "final requests of the load window, by outcome",
                                       labels=[*BASE_LABELS, "outcome"])
        latency = HistogramMetricFamily("harness_request_latency_seconds",
                                        "final requests' latency from the intended send time (load window)",
                                        labels=[*BASE_LABELS, "outcome"])
        for outcome, values in sorted(by_outcome.items()):
            requests.add_metric([*self.base, outcome], len(values))
            known = sorted(v for v in values if not math.isnan(v))
            buckets = [(floatToGoString(le), bisect.bisect_right(known, le)) for le in LATENCY_BUCKETS]
            buckets.append(("+Inf", len(known)))
            latency.add_metric([*self.base, outcome], buckets, sum(known))
        yield requests
        yield latency
        yield self._counter("harness_dropped", "open model: sends not made on time (load window)",
                            len(timeline.events_of(Dropped, window)))
        figures = stats.window_stats(timeline, window)
        for key, doc in (("ok_rps", "successful requests per second (load window)"),
                         ("sent_rps", "requests made per second (load window)")):
            value = _number(figures.get(key))
            if value is not None:
                yield self._gauge(f"harness_load_{key}", doc, value)

    def _counter(self, name: str, doc: str, value: float, **extra: str) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=[*BASE_LABELS, *extra])
        family.add_metric([*self.base, *extra.values()], value)
        return family

    def _chaos(self, timeline: Timeline) -> Iterator[Metric]:
        tally = Tally((str(r.get(Chaos.fault) or ""), str(r.get(Chaos.event) or ""))
                      for r in timeline.events_of(Chaos) if is_chaos_event(r))
        family = CounterMetricFamily("harness_chaos_events", "chaos events of the run by fault and event",
                                     labels=[*BASE_LABELS, "fault", "event"])
        for (fault, event), count in sorted(tally.items()):
            family.add_metric([*self.base, fault, event], count)
        yield family

    def _phases(self, timeline: Timeline) -> Iterator[Metric]:
        family = GaugeMetricFamily("harness_phase_duration_seconds", "how long each window of the run lasted",
                                   labels=[*BASE_LABELS, "phase"])
        for window in sorted(timeline.windows.values(), key=lambda w: (w.start, w.name)):
            if window.name not in SETUP_WINDOWS:
                family.add_metric([*self.base, window.name], window.duration)
        yield family


def run_registry(run_dir: Path, timeline: Timeline | None = None) -> CollectorRegistry:
    """A registry holding one stored run's metrics (summary.json, and the timeline when it is
    there; read from run_dir when not handed over: the runner hands the one it read)."""
    summary = load_summary(run_dir)
    if timeline is None:
        try:
            timeline = Timeline.load(run_dir)
        except OSError:
            timeline = None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(RunCollector(summary, timeline))
    return registry


def write_run_metrics(run_dir: Path, path: Path | None = None, timeline: Timeline | None = None) -> Path:
    """Write the run's exposition (default: <run>/openmetrics.prom); prometheus-client writes it atomically."""
    path = path or run_dir / RUN_FILE
    write_to_textfile(str(path), run_registry(run_dir, timeline))
    return path


def grouping_key(summary: dict[str, Any]) -> dict[str, str]:
    """job=harness plus scenario (and release when set): the next run of a scenario replaces its metrics."""
    key = {"scenario": str(summary.get("scenario", ""))}
    if summary.get("release"):
        key["release"] = str(summary["release"])
    return key


def push_run(run_dir: Path, gateway: str, timeout_s: float = 10.0) -> dict[str, str]:
    """PUT the run's metrics to a Pushgateway; returns the grouping key used."""
    registry = run_registry(run_dir)
    key = grouping_key(load_summary(run_dir))
    push_to_gateway(gateway, job=JOB, registry=registry, grouping_key=key, timeout=timeout_s)
    return key
