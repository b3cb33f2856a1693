"""Scrapes the Prometheus endpoints of the run's own Ray nodes into `ray_metrics` records.

Only nodes this run started (the harness gave each its metrics export port on
127.0.0.1, harness.cluster.local / autoscaling), only 127.0.0.1, at the recorder's
cadence (recorder.interval_s), and only while an SLO reads Ray's metrics
(harness.slo.ray.families_named). A node's endpoint exports hundreds of families; only
the lines of the families the SLOs name are parsed (prometheus-client's parser) and
kept, plus the list of family names whenever it changes, so a metric that never came
is `no data` with the reason. A scrape that fails is a record with `error`, never fatal.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.cluster.local import LOOPBACK
from harness.measure.ray_metrics import family_name
from harness.measure.records import RayMetrics
from harness.model.context import RunContext
from harness.model.scenario import RecorderSpec, Scenario
from harness.run.periodic import Periodic
from harness.slo.ray import families_named

TIMEOUT_S = 2.0


def wanted_families(scenario: Scenario) -> set[str]:
    """The Ray families this scenario's SLOs read (empty: nothing to scrape)."""
    return families_named([spec.check for spec in scenario.slos])


def _family_of_line(line: str) -> str:
    """The family a sample line belongs to (`name{...} value` or `name value`)."""
    name = line.split("{", 1)[0].split(" ", 1)[0]
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return family_name(name[: -len(suffix)])
    return family_name(name)


def parse_exposition(text: str, keep: set[str]) -> tuple[list[str], list[list[Any]]]:
    """(every family exported, [name, labels, value] of the kept families' samples).

    Only the kept families' lines reach the parser: the cost of a scrape stays that of
    reading the text, whatever else the node exports.
    """
    families: list[str] = []
    kept_lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split(" ", 3)[2]
            if name.endswith("_created"):  # a counter's creation time: not a family of its own
                continue
            families.append(name)
            if family_name(name) in keep:
                kept_lines.append(line)
        elif line and not line.startswith("#") and _family_of_line(line) in keep:
            kept_lines.append(line)
    samples = [[s.name, dict(s.labels), s.value]
               for fam in text_string_to_metric_families("\n".join(kept_lines) + "\n") for s in fam.samples]
    return families, samples


def scrape(port: int, keep: set[str], timeout_s: float = TIMEOUT_S) -> tuple[list[str], list[list[Any]]]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=timeout_s) as answer:  # noqa: S310
        text = answer.read().decode("utf-8", errors="replace")
    return parse_exposition(text, keep)


class RayScraper:
    """RunComponent: every recorder.interval_s, one `ray_metrics` record per node of the run."""

    name = "ray_scrape"

    def __init__(self, spec: RecorderSpec | None, families: set[str]):
        self.interval_s = (spec or RecorderSpec()).interval_s
        self.families = set(families)
        self._periodic: Periodic | None = None
        self._seen: dict[str, tuple[str, ...]] = {}  # node -> families last recorded
        self._lock = threading.Lock()
        self.scrapes = 0
        self.errors = 0
        self.cpu_s = 0.0

    def targets(self, ctx: RunContext) -> dict[str, int]:
        """The run's own alive nodes and their metrics ports (none on a cluster it did not start)."""
        cluster = ctx.cluster
        if cluster is None or not cluster.owned:
            return {}
        return {name: node.metrics_port for name, node in cluster.nodes.items()
                if node.alive and node.metrics_port is not None}

    def start(self, ctx: RunContext) -> None:
        self._periodic = Periodic(self.interval_s, lambda: self._round(ctx), "ray-scrape")
        self._periodic.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def _round(self, ctx: RunContext) -> None:
        started = time.thread_time()
        for node, port in sorted(self.targets(ctx).items()):
            if self._periodic is not None and self._periodic.stopping.is_set():
                break
            self._scrape_one(ctx, node, port)
        self.cpu_s += time.thread_time() - started

    def _scrape_one(self, ctx: RunContext, node: str, port: int) -> None:
        asked = time.perf_counter()
        try:
            families, samples = scrape(port, self.families)
        except Exception as exc:  # a node going away (chaos), a slow agent: recorded, never fatal
            self.errors += 1
            ctx.timeline.emit(RayMetrics, node=node, port=port, error=f"{type(exc).__name__}: {exc}"[:300])
            return
        fields: dict[str, Any] = {"samples": samples}
        names = tuple(sorted(set(families)))
        if self._seen.get(node) != names:  # the list of families only when it changed
            self._seen[node] = names
            fields["families"] = list(names)
        self.scrapes += 1
        ctx.timeline.emit(RayMetrics, node=node, port=port,
                          scrape_ms=round((time.perf_counter() - asked) * 1000, 2), **fields)

    def stop(self, ctx: RunContext) -> None:
        if self._periodic is not None:
            self._periodic.stop()

    def metrics(self) -> dict[str, Any]:
        return {"ray_scrapes": self.scrapes, "ray_scrape_errors": self.errors,
                "ray_scrape_cpu_s": round(self.cpu_s, 3)}
