"""What a suite run leaves per entry (EntryResult) and in all (SuiteOutcome): plain data the
session fills (harness.gate.session) and the suite's reports read (harness.gate.suite_report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gate.regression import RegressionVerdict
from harness.gate.sequential import SequentialDecision
from harness.gate.suite_config import ResolvedEntry
from harness.gate.verdict import Decision
from harness.model.outcome import RunOutcome, Verdict


@dataclass(kw_only=True)
class EntryResult:
    entry: ResolvedEntry
    status: str  # passed | failed | flaky | error | skipped
    attempts: list[RunOutcome] = field(default_factory=list)
    reused_cluster: list[bool] = field(default_factory=list)  # per attempt
    metrics: dict[str, float] = field(default_factory=dict)
    regressions: list[RegressionVerdict] = field(default_factory=list)
    decision: Decision = field(default_factory=lambda: Decision(False))
    quarantine: dict[str, Any] | None = None
    state: str = ""
    flake_rate: float = 0.0
    skipped_reason: str | None = None
    config_hash: str = ""
    # The sequential rule that judged failed attempts (None: no attempt failed).
    sequential: SequentialDecision | None = None
    flake_probability: float | None = None
    # Key metrics of every attempt that passed its SLOs (the rank regression check's runs).
    run_metrics: list[dict[str, float]] = field(default_factory=list)
    # Request percentile and ratio SLOs judged over every attempt's requests (harness.gate.pooled).
    pooled: list[Verdict] = field(default_factory=list)
    attempt_configs: list[str] = field(default_factory=list)  # each attempt's config hash

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def eligible(self) -> bool:
        """Could block: stable and not quarantined."""
        return self.entry.entry.stable and self.quarantine is None

    def failed_slos(self) -> list[str]:
        """SLOs that failed on any attempt (for a flaky result: those that flipped)."""
        names: list[str] = []
        for outcome in self.attempts:
            if outcome.error is None:
                names += [v.name for v in outcome.verdicts if not v.passed and v.name not in names]
        return names


@dataclass(kw_only=True)
class SuiteOutcome:
    suite_dir: Path
    exit_code: int
    results: list[EntryResult]
    summary: dict[str, Any]
