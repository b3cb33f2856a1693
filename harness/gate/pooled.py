"""A suite's attempts of one scenario, pooled: each request percentile and ratio SLO judged
once over the requests of every attempt (issue 22, sequential suites).

Pooling is sound where the metric is a property of the request distribution and not of
the run's length: a percentile of latencies and a ratio of outcomes mean the same over
two runs' requests as over one run's, and the pooled sample's interval
(harness.measure.confidence) is narrower, so a verdict inconclusive on one run can be
decided on two or three. Those are exactly the SLOs that carry an interval. Counts,
rates and times (time to scale, recovery time) are not pooled: three runs do not make a
scale-up three times faster; they are judged per attempt (the suite's SPRT over runs).

Each attempt's requests are moved onto the first attempt's clock, window by window
(same config, same seed: the same windows), then judged by harness.slo.core.evaluate
as one run would be.
"""

from __future__ import annotations

import copy
from pathlib import Path

from harness.measure import windows
from harness.measure.records import Request
from harness.measure.timeline import Timeline
from harness.model.outcome import Verdict
from harness.model.scenario import Scenario
from harness.slo.core import evaluate, window_of


def pooled_verdicts(scenario: Scenario, run_dirs: list[str]) -> list[Verdict]:
    """The scenario's SLOs that carry an interval, each judged on every attempt's requests
    (at the scenario's confidence). Attempts whose window is missing are left out."""
    timelines = [Timeline.load(Path(d)) for d in run_dirs]
    if not timelines:
        return []
    first = timelines[0]
    level = scenario.confidence
    out = []
    for spec in scenario.slos:
        alone = evaluate(spec, first, level)
        if alone.interval is None:
            continue  # not a percentile or ratio of requests: judged per attempt
        expression = window_of(spec)
        home = windows.resolve(expression, first.windows)
        if home is None:
            continue
        pooled: list[dict] = []
        used = 0
        for timeline in timelines:
            window = windows.resolve(expression, timeline.windows)
            if window is None:
                continue
            used += 1
            shift = home.start - window.start
            pooled += [{**r, Request.t: r[Request.t] + shift} for r in timeline.requests_in(window, final_only=False)]
        view = copy.copy(first)
        view.requests = pooled
        verdict = evaluate(spec, view, level)
        verdict.inputs = {**verdict.inputs, "pooled_attempts": used}
        verdict.message = f"pooled over {used} attempt{'s' if used != 1 else ''}: {verdict.message}"
        out.append(verdict)
    return out
