"""A scenario's state across suite runs, replayed from its stored results.

The rules follow Ray's release-test automation (ray_release/test_automation):

    passing               -> failing               the latest result failed
    passing | failing     -> consistently_failing  the last two results failed
    passing               -> flaky                 pass->fail flips are >= 7% of the last 30
                                                   results, unless the last 10 all passed
    failing | consistently_failing -> passing      the latest result passed
    flaky                 -> passing               the last 10 results all passed
    flaky                 -> consistently_failing  the last two results failed (a flaky
                                                   scenario that now fails every time is broken)

A run that failed and then passed on a rerun ("flaky" result) counts as a flip on
its own and as a pass for recovery, but not as a clean pass for "recently stable".
Infrastructure errors are no verdict and are ignored (Ray never records them as
results). A regressed result (SLOs met, blocked by a regression check) is a
failure. Ray jails a test after three failures in a row, which stops it blocking;
here that decision is a person's: an entry in configs/quarantine.yaml, with a
reason and an owner, makes the state "quarantined" and the scenario non-blocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

PASSED, FAILED, FLAKY, ERROR = "passed", "failed", "flaky", "error"
# Passed its SLOs but was blocked by a regression check: a failure for the state, and
# never part of a baseline (harness.gate.history), so repeating it cannot make it normal.
REGRESSED = "regressed"
RESULT_STATUSES = (PASSED, FAILED, FLAKY, ERROR, REGRESSED)


class State(str, Enum):
    PASSING = "passing"
    FAILING = "failing"
    CONSISTENTLY_FAILING = "consistently_failing"
    FLAKY = "flaky"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, kw_only=True)
class StateRules:
    window: int = 30  # results considered, newest first
    flaky_threshold: float = 0.07  # flips per result in the window
    recently_stable: int = 10  # clean passes in a row that clear "flaky"
    consistent_failures: int = 2  # failures in a row that make "consistently failing"


def judged(statuses: Sequence[str]) -> list[str]:
    """Results that are a verdict (infrastructure errors are not), oldest first; a
    regressed result counts as a failure."""
    return [FAILED if s == REGRESSED else s for s in statuses if s in (PASSED, FAILED, FLAKY, REGRESSED)]


def flips(statuses_oldest_first: Sequence[str]) -> int:
    """pass->fail transitions between runs, plus fail->pass within a run (a flaky result)."""
    seq = judged(statuses_oldest_first)
    count = sum(1 for s in seq if s == FLAKY)
    count += sum(1 for older, newer in zip(seq, seq[1:], strict=False) if older != FAILED and newer == FAILED)
    return count


def flake_rate(statuses_oldest_first: Sequence[str], rules: StateRules = StateRules()) -> float:
    seq = judged(statuses_oldest_first)[-rules.window:]
    return flips(seq) / len(seq) if seq else 0.0


def _recently_stable(recent: list[str], rules: StateRules) -> bool:
    n = rules.recently_stable
    return len(recent) >= n and all(s == PASSED for s in recent[:n])


def _failing_in_a_row(recent: list[str], rules: StateRules) -> bool:
    n = rules.consistent_failures
    return len(recent) >= n and all(s == FAILED for s in recent[:n])


def _is_flaky(recent: list[str], rules: StateRules) -> bool:
    if _recently_stable(recent, rules):
        return False
    return flips(list(reversed(recent))) >= rules.flaky_threshold * len(recent)


def next_state(current: State, recent: list[str], rules: StateRules = StateRules()) -> State:
    """One move of the state machine; `recent` holds judged results, newest first."""
    if not recent:
        return current
    latest_failed = recent[0] == FAILED
    if current in (State.PASSING, State.FAILING, State.FLAKY) and _failing_in_a_row(recent, rules):
        return State.CONSISTENTLY_FAILING
    if current == State.PASSING:
        if latest_failed:
            return State.FAILING
        return State.FLAKY if _is_flaky(recent, rules) else State.PASSING
    if current in (State.FAILING, State.CONSISTENTLY_FAILING):
        return current if latest_failed else State.PASSING
    if current == State.FLAKY:
        return State.PASSING if _recently_stable(recent, rules) else State.FLAKY
    return current


def replay(statuses_oldest_first: Sequence[str], rules: StateRules = StateRules()) -> list[State]:
    """The state after each judged result, oldest first, starting from passing."""
    seq = judged(statuses_oldest_first)
    state, out = State.PASSING, []
    for end in range(1, len(seq) + 1):
        recent = list(reversed(seq[max(0, end - rules.window):end]))
        state = next_state(state, recent, rules)
        out.append(state)
    return out


def current_state(
    statuses_oldest_first: Sequence[str],
    quarantined: bool = False,
    rules: StateRules = StateRules(),
) -> State:
    if quarantined:
        return State.QUARANTINED
    states = replay(statuses_oldest_first, rules)
    return states[-1] if states else State.PASSING
