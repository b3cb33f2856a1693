"""Certain failure: whether an SLO can no longer pass, whatever the rest of its window brings.

`abort_on_fail` (harness.run.failfast) ends a run early on these rules only, never on a
running value that could still recover (k6's abortOnFail does the latter):

- ratio (`success_ratio >= r`, `error_ratio <= e`, `shed_ratio <= s`): the requests that
  count against it are spent beyond what the whole planned window allows. The best the
  rest can do is to be all good, so the best final value is bad / planned (or
  1 - bad / planned); a window with fewer requests than planned only ends worse.
- percentile (`p(q) < B`, and `max_latency < B` as q = 100): the nearest-rank p(q) of N
  requests fails once N - ceil(qN) + 1 of them are at or over B; N - ceil(qN) grows with
  N, so more than planned - ceil(q * planned) slow requests fail it for every N up to
  the planned count. `max_latency` needs no planned count: one is enough.
- time (`recovery_time < 30s`, `time_to_replicas(D, N) < 20s`, ...): these values only
  grow as their window goes on (a first time, or the start of the last settled
  stretch), so a value over the bound on complete data up to a horizon stays over it,
  and an event not seen by `start + bound` comes too late.

The planned count is an upper bound on the window's final requests: the open model's
schedule, or the closed model's users x (window / wait + 1). Unknown (a closed model
without a wait, a user class, a window with offsets): no abort, and the run says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.measure.records import Request
from harness.measure.stats import ERROR_OUTCOMES, OK, SHED, outcome_of
from harness.measure.timeline import Timeline, Window
from harness.model.outcome import format_value
from harness.model.scenario import Scenario, SLOSpec
from harness.slo.catalog import METRICS
from harness.slo.core import OPS, Check, parse_check
from harness.slo.registry import is_number

RATIO = "ratio"
PERCENTILE = "percentile"
TIME = "time"
# Ratio metrics and the outcomes that count against them when the bound caps them.
BAD_OUTCOMES: dict[str, tuple[str, ...] | None] = {
    "success_ratio": None,  # every outcome but ok
    "error_ratio": ERROR_OUTCOMES,
    "shed_ratio": (SHED,),
}
UPPER = ("<", "<=")
# Time metrics whose value never falls as their window goes on (read in their modules:
# a first time reached, the first ok after the last failure, the start of the last
# settled stretch), so over the bound now is over it at the window's end.
GROWING_TIMES = ("recovery_time", "time_to_success", "time_to_replicas", "scale_down_time")


def rule_of(check: Check) -> str | None:
    """Which certainty rule applies to a check, None if it can only be judged at the end."""
    if check.metric in BAD_OUTCOMES:
        upper_ok = check.metric == "success_ratio"
        return RATIO if (check.op in (">", ">=") if upper_ok else check.op in UPPER) else None
    if check.metric in ("p", "max_latency") and check.op in UPPER and "attempts" not in check.args:
        return PERCENTILE
    if check.metric in GROWING_TIMES and check.op in UPPER:
        return TIME
    return None


def why_unsupported(check: Check) -> str:
    return (f"{check.metric} {check.op} cannot be certain before its window ends (supported: "
            "success_ratio >=, error_ratio/shed_ratio <=, p(N)/max_latency < (not attempts), "
            f"{'/'.join(GROWING_TIMES)} <)")


def pct_of(check: Check) -> float:
    """The percentile a latency check judges (max_latency: 100)."""
    if check.metric == "max_latency":
        return 100.0
    return float(next(a for a in check.args if is_number(a)))


def in_population(check: Check, record: dict[str, Any]) -> bool:
    """A final request the check's metric counts (its outcome filter, if any)."""
    if not record.get(Request.final, True):
        return False
    if check.metric in BAD_OUTCOMES:
        return True
    words = {a for a in check.args if not is_number(a)}
    return not words or record.get(Request.outcome) in words


def counts_against(check: Check, record: dict[str, Any]) -> bool:
    """A request of the population that pushes the check towards failing for good."""
    if check.metric in BAD_OUTCOMES:
        bad = BAD_OUTCOMES[check.metric]
        outcome = outcome_of(record)
        return outcome != OK if bad is None else outcome in bad
    latency = record.get(Request.latency_ms)
    if latency is None:
        return False
    return float(latency) >= check.bound if check.op == "<" else float(latency) > check.bound


@dataclass
class CheckTally:
    """What a window's requests so far say about one check."""

    requests: int = 0
    against: int = 0

    def add(self, check: Check, record: dict[str, Any]) -> None:
        if in_population(check, record):
            self.requests += 1
            if counts_against(check, record):
                self.against += 1


def allowed_against(check: Check, planned: int) -> int:
    """How many slow requests a percentile check survives, for any count up to `planned`.

    The rank is harness.measure.stats.percentile's own (nearest rank, as computed there),
    and the most over every N <= planned, so that no count the run may end with allows more.
    """
    if planned <= 0:
        return 0
    pct = pct_of(check)
    counts = np.arange(1, planned + 1, dtype=float)
    ranks = np.maximum(1, np.ceil(pct / 100.0 * counts))
    return int(np.max(counts - np.minimum(ranks, counts)))


def requests_certain(check: Check, tally: CheckTally, planned: int | None) -> str | None:
    """Why the check has surely failed (a ratio or percentile rule), None if it may still pass."""
    rule = rule_of(check)
    if rule == PERCENTILE and check.metric == "max_latency":
        if tally.against:
            return f"{tally.against} request(s) already over {format_value(check.bound, 'ms')}"
        return None
    if planned is None or planned <= 0 or tally.requests > planned:
        return None  # no upper bound on the window's requests: nothing is certain
    if rule == RATIO:
        best = tally.against / planned
        if check.metric == "success_ratio":
            best = 1.0 - best
        if OPS[check.op](best, check.bound):
            return None
        return (f"{tally.against} of at most {planned} planned requests already count against it: "
                f"the best it can end is {format_value(best, 'ratio')}")
    if rule == PERCENTILE:
        allowed = allowed_against(check, planned)
        if tally.against <= allowed:
            return None
        return (f"{tally.against} requests at or over {format_value(check.bound, 'ms')}, more than the "
                f"{allowed} that {planned} planned requests allow")
    return None


def time_certain(check: Check, timeline: Timeline, window: Window, horizon: float) -> str | None:
    """Why a growing time check has surely failed, judging data complete up to `horizon`."""
    if rule_of(check) != TIME or horizon <= window.start:
        return None
    seen = Window(window.name, window.start, min(window.end, horizon))
    value = METRICS[check.metric](timeline, seen, list(check.args)).value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if math.isinf(value):  # not yet: it can still come, but no sooner than the horizon
        elapsed = seen.end - seen.start
        if OPS[check.op](elapsed, check.bound):
            return None
        return f"not reached {elapsed:.1f}s into the window (bound {format_value(check.bound, 's')})"
    if OPS[check.op](value, check.bound):
        return None
    return f"already {format_value(value, 's')} (bound {format_value(check.bound, 's')})"


def with_fail_fast(scenario: Scenario) -> Scenario:
    """The scenario with abort_on_fail on every SLO a certainty rule supports (`--fail-fast`)."""
    slos = [s.model_copy(update={"abort_on_fail": True}) if supported(s.check) else s
            for s in scenario.slos]
    return scenario.model_copy(update={"slos": slos})


def abort_problems(slos: list[SLOSpec]) -> list[tuple[str, str]]:
    """`abort_on_fail` on a check no rule can decide early: (key path, message) each."""
    problems = []
    for index, spec in enumerate(slos):
        if spec.abort_on_fail:
            try:
                check = parse_check(spec.check)
            except ValueError:
                continue  # the check's own error is reported
            if rule_of(check) is None:
                problems.append((f"slos.{index}.abort_on_fail", why_unsupported(check)))
    return problems


def supported(text: str) -> bool:
    return rule_of(parse_check(text)) is not None
