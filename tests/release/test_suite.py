"""One test per scenario of the chosen suite (see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.gate.suite_config import ResolvedEntry

pytestmark = pytest.mark.release


def test_scenario(entry: ResolvedEntry, suite_session: Any,
                  record_property: Callable[[str, object], None]) -> None:
    result = suite_session.run_entry(entry)
    record_property("result", result.status)
    record_property("attempts", len(result.attempts))
    record_property("state", result.state)
    if result.status == "flaky":
        record_property("flaky", "true")
    if result.attempts:
        record_property("reproduce", result.attempts[-1].reproduce_command)
    if result.decision.blocking:
        pytest.fail(f"{entry.name} blocks the release: {'; '.join(result.decision.reasons)}. "
                    f"Reproduce: {result.attempts[-1].reproduce_command}", pytrace=False)
    if result.status == "skipped":
        pytest.skip(f"not run: {result.skipped_reason}")
    if result.status == "error":
        final = result.attempts[-1]
        message = f"infrastructure error ({final.error_kind}): {final.error}"
        if result.eligible:
            pytest.fail(message, pytrace=False)
        pytest.xfail(f"non-blocking scenario: {message}")
    if result.decision.notes:
        pytest.xfail("; ".join(result.decision.notes))
