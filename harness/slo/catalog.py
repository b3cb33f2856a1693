"""Every SLO metric module, imported explicitly: the one place that makes the table whole.

Adding a metric module means adding it here; a unit test imports each module alone and
checks that the catalog lists every module that registers a metric.
"""

from __future__ import annotations

from harness.slo import (
    autoscaling_metrics,
    faults,
    memory_metrics,
    node_metrics,
    ray,
    recovery,
    requests,
    resources,
    workload,
)
from harness.slo.registry import METRICS, SECONDS_METRICS, SUBJECTS

MODULES = (requests, autoscaling_metrics, recovery, workload, resources, node_metrics, ray, faults, memory_metrics)

__all__ = ["METRICS", "MODULES", "SECONDS_METRICS", "SUBJECTS"]
