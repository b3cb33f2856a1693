"""The seeded-regression set: the gate blocks each known-bad release variant, naming the
SLO (or regression check) its defect breaks, and passes the good builds.

Variants are entries of configs/release/seeded.yaml (one knob of a good build changed
each), run through a SuiteSession as `harness suite` runs them: one shared cluster for
the builds without chaos, a fresh one for each node-termination run. `make regressions`
runs this file (it is left out of `pytest tests/release`, which runs a release suite).

The latency regressions have no SLO to break: their baseline is recorded from three
runs of this session's good build (good-overload, good-latency) (as three earlier nights of the same
scenario would have left it), and the suite's rank regression check must block them:
it reruns each variant while the check is inconclusive (3 baseline runs against 1 or
2 candidate runs cannot reach alpha 5%), and blocks at the third run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.gate.history import History, StoredResult
from harness.gate.metrics import key_metrics
from harness.gate.suite_config import QuarantineList, ResolvedEntry, ResolvedSuite, load_suite

pytestmark = pytest.mark.release

ROOT = Path(__file__).resolve().parents[2]
SET_FILE = ROOT / "configs" / "release" / "seeded.yaml"

# variant -> what must be named as the reason it is blocked (None: must pass)
EXPECTED: dict[str, str | None] = {
    "good-autoscaling": None,
    "slow-scale-up": "scales up in time",
    "replica-cap-too-high": "stays under its cap",
    "flapping-autoscaler": "no flapping",
    "good-overload": None,
    "no-load-shedding": "overload is shed fast",
    "latency-regression": "p50_ok_ms regressed",
    "good-latency": None,
    "latency-plus-15": "p50_ok_ms regressed",
    "good-memory": None,
    "leaking-replica": "replica memory stays flat",
    "good-node-loss": None,
    "tasks-without-retries": "every task completes",
    "burst-slow-scale-down": "scales back down",
    "burst-without-shedding": "shed fast",
    "mix-slow-predict": "p(90) < 500ms for predict",
    "idle-nodes-kept": "A100 nodes scale back down",
    "chaos-slow-replica-start": "replicas come back after each fault",
}
BASELINE_FROM = {"latency-regression": "good-overload", "latency-plus-15": "good-latency"}


class SeededSet:
    """Runs each variant once, on demand, in one SuiteSession (so clusters are shared)."""

    def __init__(self, resolved: ResolvedSuite, results: Path, history: History):
        from harness.gate.session import SuiteSession  # imports Ray

        self.entries = {e.name: e for e in resolved.entries}
        self.history = history
        self.session = SuiteSession(resolved, results, history=history, quarantine=QuarantineList())
        self.results: dict[str, Any] = {}
        self.good_runs: dict[str, list[tuple[dict[str, float], str]]] = {}

    def run(self, name: str) -> Any:
        if name not in self.results:
            source = BASELINE_FROM.get(name)
            if source is not None:
                self.record_baseline(self.entries[name], source)
            self.results[name] = self.session.run_entry(self.entries[name])
        return self.results[name]

    def baseline_runs(self, source: str, count: int) -> list[tuple[dict[str, float], str]]:
        """`count` passing runs of the good build: its test's run and more of the same."""
        good = self.run(source)
        assert good.status == "passed" and good.metrics, f"{source} gave no baseline: {good.status}"
        runs = self.good_runs.setdefault(source, [(dict(good.metrics), good.attempts[-1].run_dir)])
        entry = self.entries[source]
        while len(runs) < count:
            outcome, _ = self.session._run_once(entry, entry.scenario, entry.overrides)
            assert outcome.status == "passed", f"{source} failed while recording a baseline: {outcome.error}"
            runs.append((key_metrics(Path(outcome.run_dir)), outcome.run_dir))
        return runs[:count]

    def record_baseline(self, entry: ResolvedEntry, source: str) -> None:
        """Distinct good runs, as earlier nights of this variant's config would have left them."""
        for night, (metrics, run_dir) in enumerate(self.baseline_runs(source, entry.regression.baseline_runs)):
            self.history.record(StoredResult(
                scenario=entry.name, status="passed", suite=self.session.suite.name,
                suite_run=f"recorded-baseline-{night}", config_hash=entry.config_hash,
                started_at=time.time() - 86400 * (night + 1), attempts=1, blocking=False,
                quarantined=False, metrics=metrics, failed_slos=[], run_dirs=[run_dir],
            ))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededSet]:
    resolved = load_suite(SET_FILE)
    assert [e.name for e in resolved.entries] == list(EXPECTED), "seeded.yaml and EXPECTED disagree"
    history = History(tmp_path_factory.mktemp("seeded-history") / "history.sqlite")
    seeded_set = SeededSet(resolved, ROOT / "results", history)
    try:
        yield seeded_set
    finally:
        seeded_set.session.finish(report_unrun=False)


@pytest.mark.parametrize("variant", list(EXPECTED))
def test_variant(variant: str, seeded: SeededSet, record_property: Any) -> None:
    result = seeded.run(variant)
    expected = EXPECTED[variant]
    final = result.attempts[-1]
    record_property("status", result.status)
    record_property("reasons", "; ".join(result.decision.reasons))
    record_property("reproduce", final.reproduce_command)
    record_property("attempts", str(len(result.attempts)))
    for verdict in result.regressions:
        record_property(f"regression {verdict.metric}", verdict.message)
    assert final.error is None, f"{variant}: infrastructure error ({final.error_kind}): {final.error}"
    failed = [v.message for v in final.verdicts if not v.passed]
    if expected is None:
        assert final.exit_code == 0 and not result.decision.blocking, (
            f"{variant} is a good build and must pass: {failed or result.decision.reasons}")
        return
    assert result.decision.blocking, f"{variant} carries a defect and must be blocked; it passed"
    reasons = "; ".join(result.decision.reasons)
    assert expected in reasons, f"{variant} must be blocked by {expected!r}, was blocked by: {reasons}"
    if variant in BASELINE_FROM:
        assert final.exit_code == 0, f"{variant}: every SLO should hold, only the regression check blocks: {failed}"
    else:
        assert final.exit_code == 1, f"{variant}: expected exit 1 (an SLO failed), got {final.exit_code}"
