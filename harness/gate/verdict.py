"""From attempts to a scenario's result, and from results to the suite's exit code (pure).

    attempts            result
    pass                passed
    fail.. pass         flaky    (a failure, then a pass with the same seed: reported, not blocking
                                  unless the suite sets flaky_blocks)
    error.. pass        passed   (infrastructure errors are retried; they are no verdict)
    fail, fail          failed   (a consistent failure: blocks when the scenario is blocking)
    error, error        error    (no verdict: exit 3 unless something blocks)

A scenario is blocking when it is stable and not quarantined. A regression
against the baseline blocks a blocking scenario when its policy says `blocks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.gate.states import ERROR, FAILED, FLAKY, PASSED
from harness.model.outcome import EXIT_INFRA, EXIT_PASSED, EXIT_SLO_FAILED, EXIT_USAGE

SKIPPED = "skipped"


def classify_attempts(statuses: Sequence[str]) -> str:
    """`passed`, `failed` or `error` per attempt, in order -> the scenario's result."""
    if not statuses:
        raise ValueError("expected at least one attempt")
    if statuses[-1] == PASSED:
        return FLAKY if FAILED in statuses[:-1] else PASSED
    return FAILED if FAILED in statuses else ERROR


@dataclass
class Decision:
    blocking: bool
    reasons: list[str] = field(default_factory=list)  # why it blocks
    notes: list[str] = field(default_factory=list)  # why it does not, though it could


def decide(
    status: str,
    *,
    stable: bool,
    quarantine_note: str | None,
    flaky_blocks: bool,
    failed_slos: Sequence[str] = (),
    regressions: Sequence[str] = (),
    regressions_block: bool = True,
    sequential: str | None = None,
) -> Decision:
    """Does this scenario's result block the release? `regressions` are regression messages;
    `sequential` the reruns' SPRT decision (harness.gate.sequential) when one was taken."""
    reasons: list[str] = []
    if status == FAILED:
        slos = ", ".join(failed_slos) or "no SLO verdict"
        how = "failed on every attempt" if sequential is None else f"failed ({sequential})"
        reasons.append(f"{how}: {slos}")
    elif status == FLAKY and flaky_blocks:
        reasons.append(f"flaky (failed, then passed on a rerun): {', '.join(failed_slos)}")
    if regressions and regressions_block:
        reasons.extend(f"regression: {r}" for r in regressions)
    if not reasons:
        return Decision(False)
    if quarantine_note is not None:
        return Decision(False, notes=[f"quarantined ({quarantine_note}): " + "; ".join(reasons)])
    if not stable:
        return Decision(False, notes=["unstable (stable: false): " + "; ".join(reasons)])
    return Decision(True, reasons)


def suite_exit_code(results: Sequence[tuple[str, bool, bool]], config_error: bool = False) -> int:
    """(status, blocking decision, scenario is blocking-eligible) per scenario -> exit code.

    1 when anything blocks; else 2 when some scenario's config proved invalid only once it
    ran (an SLO naming a deployment its app does not have): the suite file needs fixing;
    else 3 when a blocking-eligible scenario ended with no verdict (infrastructure error)
    or was not run; else 0.
    """
    if any(blocking for _, blocking, _ in results):
        return EXIT_SLO_FAILED
    if config_error:
        return EXIT_USAGE
    if any(status in (ERROR, SKIPPED) and eligible for status, _, eligible in results):
        return EXIT_INFRA
    return EXIT_PASSED
