"""Fail-fast: end a run as soon as an SLO with `abort_on_fail` can no longer pass.

A RunComponent. On the runner's tick (at most every EVERY_S) it tails the run's
timeline streams (harness.run.live.TimelineTail: only the bytes appended since the
last look), counts each watched SLO's requests in its planned window, and asks
harness.slo.certain whether the SLO has surely failed: the error budget of the whole
planned window spent, more slow requests than the planned count allows, a time bound
passed without the event. Then it writes an `abort` record and raises AbortRun; the
runner stops the load, tears down as usual, and the verdict says
`decided at 9.4 s of 30 s (aborted)`, exit 1. It never aborts on a running value that
could still recover.

`harness run --fail-fast` sets abort_on_fail on every SLO a rule supports
(`with_fail_fast`). An SLO whose window has no planned request count (a closed model
without a wait, a window with offsets) is not watched, and the run says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.load.planned import PlannedWindow, planned_windows
from harness.measure import windows
from harness.measure.records import Abort, Phase, Request
from harness.measure.timeline import TIMELINE_DIR, Timeline
from harness.model.context import AbortRun, RunContext
from harness.model.outcome import Verdict
from harness.model.scenario import Scenario, SLOSpec
from harness.run.live import TimelineTail
from harness.slo import certain
from harness.slo.core import Check, parse_check, window_of

EVERY_S = 0.25  # between looks at the timeline: decided within ~0.5 s of the record's arrival
TIME_EVERY_S = 1.0  # time rules rebuild a Timeline: less often


@dataclass(kw_only=True)
class AbortDecision:
    slo: str
    check: str
    reason: str
    decided_at_s: float  # since the load started
    planned_s: float

    def __str__(self) -> str:
        return f"{self.slo}: {self.reason} (decided at {self.decided_at_s:.1f} s of {self.planned_s:.0f} s)"


@dataclass(kw_only=True)
class Watch:
    spec: SLOSpec
    check: Check
    rule: str
    window: PlannedWindow | None = None  # request rules: the planned window and count
    expression: str = ""  # time rules: the window expression, resolved live
    tally: certain.CheckTally = field(default_factory=certain.CheckTally)

    @property
    def name(self) -> str:
        return self.spec.display_name()


def plan_watches(scenario: Scenario) -> tuple[list[Watch], list[str]]:
    """The SLOs to watch, and a note for each one asked for that cannot be watched."""
    planned = planned_windows(scenario.load, scenario.duration_s, scenario.seed) if scenario.load else {}
    watches, notes = [], []
    for spec in scenario.slos:
        if not spec.abort_on_fail:
            continue
        check = parse_check(spec.check)
        rule = certain.rule_of(check)
        if rule is None:
            continue
        expression = window_of(spec)
        if rule == certain.TIME:
            watches.append(Watch(spec=spec, check=check, rule=rule, expression=expression))
            continue
        window = planned.get(expression)
        if window is None:
            notes.append(f"fail-fast: {spec.display_name()}: window {expression!r} has no planned request "
                         "count (only load, run and the load shape's windows have one); judged at the end")
        elif window.requests is None and check.metric != "max_latency":
            notes.append(f"fail-fast: {spec.display_name()}: {window.why}; judged at the end")
        else:
            watches.append(Watch(spec=spec, check=check, rule=rule, window=window))
    return watches, notes


class FailFast:
    name = "fail_fast"

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.watches, self.notes = plan_watches(scenario)
        self.decisions: list[AbortDecision] = []
        self.load_start: float | None = None
        self._pending: list[dict[str, Any]] = []  # requests seen before the load's start edge
        self._records: list[dict[str, Any]] = []  # every record, for time rules only
        self._tail: TimelineTail | None = None
        self._last = self._last_time = 0.0
        load = scenario.load
        retry = load.retry if load is not None else None
        # Time rules judge data complete up to now minus this: a request's final record
        # lands after its last attempt; a sample within two recorder intervals.
        self._request_lag_s = (1.0 if load is None or retry is None else
                               load.request_timeout_s * retry.attempts + retry.max_backoff_ms / 1000.0 * (retry.attempts - 1) + 1.0)
        self._sample_lag_s = 2 * scenario.recorder.interval_s + 1.0

    def start(self, ctx: RunContext) -> None:
        self._tail = TimelineTail(ctx.run_dir / TIMELINE_DIR)
        for note in self.notes:
            ctx.console.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
        if self.watches:
            names = ", ".join(w.name for w in self.watches)
            ctx.console.print(f"fail-fast: watching {names}", markup=False, highlight=False, soft_wrap=True)

    def tick(self, ctx: RunContext) -> None:
        now = time.monotonic()
        if not self.watches or self._tail is None or now - self._last < EVERY_S:
            return
        self._last = now
        self.observe(self._tail.read_new())
        check_times = now - self._last_time >= TIME_EVERY_S
        if check_times:
            self._last_time = now
        decisions = self.decide(time.time(), check_times)
        if decisions:
            self.decisions = decisions
            for d in decisions:
                ctx.timeline.emit(Abort, slo=d.slo, check=d.check, reason=d.reason,
                                  decided_at_s=round(d.decided_at_s, 3), planned_s=d.planned_s)
            raise AbortRun(decisions)

    def observe(self, records: list[dict[str, Any]]) -> None:
        """Fold new timeline records into the watches' tallies (pure: for tests too)."""
        keep = any(w.rule == certain.TIME for w in self.watches)
        for record in records:
            if keep:
                self._records.append(record)
            kind = record.get(Request.kind)
            if (kind == Phase.KIND and record.get(Phase.name) == "load" and record.get(Phase.edge) == "start"
                    and self.load_start is None):
                self.load_start = float(record[Phase.t])
                pending, self._pending = self._pending, []
                for request in pending:
                    self._count(request)
            elif kind == Request.KIND:
                if self.load_start is None:
                    self._pending.append(record)
                else:
                    self._count(record)

    def _count(self, record: dict[str, Any]) -> None:
        assert self.load_start is not None
        offset = float(record[Request.t]) - self.load_start
        for watch in self.watches:
            if watch.window is None or not watch.window.start_s <= offset < watch.window.end_s:
                continue
            if watch.spec.request is not None and record.get(Request.name, "default") != watch.spec.request:
                continue
            watch.tally.add(watch.check, record)

    def decide(self, now: float, check_times: bool = True) -> list[AbortDecision]:
        """Every watched SLO that has surely failed by `now` (epoch seconds)."""
        if self.load_start is None:
            return []
        out = []
        at = now - self.load_start
        timeline = None
        for watch in self.watches:
            reason = None
            if watch.window is not None:
                reason = certain.requests_certain(watch.check, watch.tally, watch.window.requests)
            elif check_times:
                if timeline is None:
                    timeline = Timeline(list(self._records))
                window = windows.resolve(watch.expression, timeline.windows)
                if window is not None:
                    lag = self._request_lag_s if watch.check.metric in ("recovery_time", "time_to_success") \
                        else self._sample_lag_s
                    reason = certain.time_certain(watch.check, timeline, window, now - lag)
            if reason is not None:
                out.append(AbortDecision(slo=watch.name, check=watch.check.text, reason=reason, decided_at_s=at, planned_s=self.scenario.duration_s))
        return out

    def stop(self, ctx: RunContext) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        if not self.decisions:
            return {"fail_fast_watched": len(self.watches)}
        return {"fail_fast_watched": len(self.watches), "aborted_at_s": round(self.decisions[0].decided_at_s, 3)}


def mark_aborted(verdicts: list[Verdict], decisions: list[AbortDecision]) -> None:
    """Each decided SLO's verdict: failed, and when it was decided (the run was ended then)."""
    by_name = {d.slo: d for d in decisions}
    for verdict in verdicts:
        decision = by_name.get(verdict.name)
        if decision is None:
            continue
        verdict.passed = False
        verdict.outcome = "fail"
        verdict.aborted = True
        verdict.decided_at_s = round(decision.decided_at_s, 3)
        verdict.planned_s = decision.planned_s
        when = f"decided at {decision.decided_at_s:.1f} s of {decision.planned_s:.0f} s (aborted)"
        verdict.why = f"{decision.reason}; {when}"
        verdict.message += f"; fail-fast: {decision.reason}, {when}"
