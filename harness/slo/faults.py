"""Whether the chaos schedule fired as planned. The default window is the run.

    faults_missed == 0      planned shots that did not fire (refused, no target, failed,
                            skipped by the plan, not reached before the run ended) and
                            entries whose schedule planned none; the verdict names each.
                            Not counted: entries with `optional: true` (listed apart) and
                            shots held back by a limit the scenario set (chaos.max_to_kill,
                            the script's ResourceKiller.stop_run()), and shots due after
                            a fail-fast abort ended the run. Every shot of the
                            run is judged, whatever the window (one due after the run
                            ended is a miss too). Implicit in every scenario with chaos:
                            `faults injected as planned` (harness.slo.implicit).
"""

from __future__ import annotations

from typing import Any

from harness.measure.records import Abort, Chaos
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import COUNT, Measurement, SLOSyntaxError, metric

OUTCOME_WORDS = {
    "refused": "refused", "no_target": "no target", "failed": "failed",
    "skipped": "skipped by the plan", "not_reached": "not injected",
}


def shot_line(record: dict[str, Any]) -> str:
    """`fault-3 kill_raylet at 50.0 s: not injected (the run ended ...)`."""
    what = record.get(Chaos.fault) or "?"
    if record.get(Chaos.replaces):
        what = f"{what} for {record[Chaos.replaces]}"
    offset = record.get(Chaos.offset_s)
    at = f" at {offset:.1f} s" if isinstance(offset, (int, float)) else ""
    outcome = record.get(Chaos.outcome)
    cause = record.get(Chaos.reason) or record.get(Chaos.detail) or ""
    words = OUTCOME_WORDS.get(str(outcome), str(outcome))
    return f"{record.get(Chaos.id, '?')} {what}{at}: {words}" + (f" ({cause})" if cause else "")


def _unplanned_line(record: dict[str, Any]) -> str:
    return f"chaos.faults.{record.get(Chaos.entry)} {record.get(Chaos.fault)}: never planned ({record.get(Chaos.reason)})"


@metric("faults_missed", kind=COUNT, args=False, window="run")
def faults_missed(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if args:
        raise SLOSyntaxError(f"expected faults_missed without arguments, got ({', '.join(args)})")
    chaos = timeline.events_of(Chaos)
    # Every shot of the run, whatever the window: one planned after the run ended is a miss too.
    results = timeline.shot_results()
    unplanned = [e for e in chaos if e.get(Chaos.event) == "unplanned"]
    if not results and not unplanned:
        return Measurement(value=None, unit="count", inputs={"why": "no chaos shot was planned or recorded in this run"})
    # A run ended early by fail-fast (an SLO already failed): shots it cut short blame nothing more.
    aborts = [e[Abort.t] for e in timeline.events_of(Abort)]
    cut = [r for r in results if aborts and r.get(Chaos.outcome) == "not_reached"
           and isinstance(r.get(Chaos.planned_t), (int, float)) and r[Chaos.planned_t] >= min(aborts)]
    not_fired = [r for r in results if r.get(Chaos.outcome) != "injected" and not r.get(Chaos.capped)
                 and not any(r is c for c in cut)]
    missed = [shot_line(r) for r in not_fired if not r.get(Chaos.optional)]
    missed += [_unplanned_line(e) for e in unplanned if not e.get(Chaos.optional)]
    optional = [shot_line(r) for r in not_fired if r.get(Chaos.optional)]
    optional += [_unplanned_line(e) for e in unplanned if e.get(Chaos.optional)]
    inputs: dict[str, Any] = {
        "planned": len(results),
        "injected": sum(1 for r in results if r.get(Chaos.outcome) == "injected"),
        "capped": [shot_line(r) for r in results if r.get(Chaos.capped) and r.get(Chaos.outcome) != "injected"],
        "after_abort": [shot_line(r) for r in cut],
        "missed": missed,
        "optional_missed": optional,
    }
    if missed:
        inputs["why"] = "; ".join(missed)
    return Measurement(value=float(len(missed)), unit="count", inputs=inputs)
