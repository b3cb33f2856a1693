"""One suite run: scenarios in order, retries, history, regressions, and the reports.

`harness suite` and the pytest release tests both drive a SuiteSession: run_entry()
for each scenario (one test each under pytest), then finish() to stop the shared
cluster and write results/suite-<name>-<ts>/{junit.xml,summary.json}.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from harness.cluster.pool import ClusterPool
from harness.files import point_symlink
from harness.gate import suite_report as report
from harness.gate.entry_result import EntryResult, SuiteOutcome
from harness.gate.history import History, StoredResult, flake_evidence
from harness.gate.pooled import pooled_verdicts
from harness.gate.regression import check_regressions
from harness.gate.sequential import SequentialRule, flake_probability
from harness.gate.states import (
    ERROR,
    FAILED,
    FLAKY,
    PASSED,
    REGRESSED,
    StateRules,
    current_state,
    flake_rate,
)
from harness.gate.suite_config import QuarantineList, ResolvedEntry, ResolvedSuite, config_hash
from harness.gate.verdict import SKIPPED, classify_attempts, decide, suite_exit_code
from harness.model.outcome import CONFIG_ERROR, FAIL, PASS, RunOutcome
from harness.model.scenario import Scenario
from harness.report.summary import app_version, versions

LATEST_SUITE = "latest-suite"


def _pooled_fail(result: EntryResult) -> bool:
    """A pooled SLO surely failed over two attempts or more: broken, not a flake. One
    attempt alone is not enough: requests of one run fail together (a bad replica), so
    a whole run can be off in a way its own interval does not show."""
    return any(v.outcome == FAIL and v.inputs.get("pooled_attempts", 0) >= 2 for v in result.pooled)


def _pooled_explains(result: EntryResult) -> bool:
    """Every SLO that failed on some attempt is a pooled one that surely passes: the
    failures were the sampling noise of single runs."""
    failed = {v.name for a in result.attempts if a.error is None for v in a.verdicts if not v.passed}
    surely = {v.name for v in result.pooled if v.outcome == PASS and v.inputs.get("pooled_attempts", 0) >= 2}
    return bool(failed) and failed <= surely


def _failure_note(result: EntryResult) -> str | None:
    """What the reruns decided about a failed result, for its blocking reason (None: it
    failed on every attempt and nothing more was decided)."""
    decision = result.sequential
    if result.status != FAILED:
        return None
    pooled = [v.message for v in result.pooled if v.outcome == FAIL and v.inputs.get("pooled_attempts", 0) >= 2]
    if pooled:
        return "; ".join(pooled)
    if decision is None or decision.state != "fail":
        judged = [a.status for a in result.attempts if a.status != ERROR]
        return None if all(s == FAILED for s in judged) else "the last attempt failed, undecided"
    return decision.reason


class SuiteSession:
    def __init__(
        self,
        resolved: ResolvedSuite,
        results_root: Path,
        *,
        history: History | None,
        quarantine: QuarantineList,
        console: Console | None = None,
        label: str | None = None,
        release: str = "",
        app_version: str | None = None,
    ):
        self.resolved = resolved
        self.suite = resolved.suite
        self.results_root = results_root
        self.started_at = time.time()
        self.run_name = label or f"suite-{self.suite.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.suite_dir = (results_root / self.run_name).resolve()
        self.suite_dir.mkdir(parents=True, exist_ok=False)
        self.history = history
        self.quarantine = quarantine
        self.console = console or Console()
        self.pool = ClusterPool(self.suite_dir, self.console)
        self.results: list[EntryResult] = []
        self.stopped: str | None = None  # why no further scenario runs (interrupt, timeout)
        self.rules = StateRules(window=self.suite.history_runs)
        self.release = release  # the release tag history rows carry (`--label`)
        self.app_version = app_version

    # -- running -------------------------------------------------------------

    def run_entry(self, entry: ResolvedEntry) -> EntryResult:
        quarantined = self.quarantine.find(entry.name)
        elapsed = time.time() - self.started_at
        if self.stopped is None and elapsed > self.suite.timeout_s:
            self.stopped = f"suite timeout of {self.suite.timeout_s:g}s elapsed"
        if self.stopped is not None:
            return self._skip(entry, self.stopped, quarantined is not None)
        result = EntryResult(entry=entry, status=SKIPPED,
                             quarantine=quarantined.model_dump() if quarantined else None)
        rule = self._sequential_rule(entry, result)
        budget = entry.retries + 1
        attempt = 0
        # A rerun of a passing scenario (inconclusive, regression) repeats the first
        # attempt's config exactly; a rerun after a failure takes the entry's retry_set.
        same_config = False
        while True:
            attempt += 1
            scenario, overrides = entry.scenario_for(1 if same_config else attempt)
            self.console.rule(f"[bold]{entry.name}[/] attempt {attempt}/{max(budget, attempt)}")
            outcome, reused = self._run_once(entry, scenario, overrides)
            result.attempts.append(outcome)
            result.reused_cluster.append(reused)
            result.config_hash = config_hash(scenario)
            result.attempt_configs.append(result.config_hash)
            if outcome.error_kind == "interrupted":
                self.stopped = "interrupted"
                break
            if outcome.error_kind == CONFIG_ERROR:  # a rerun would find the same mistake
                break
            if not self._rerun(entry, result, rule, attempt, budget):
                break
            same_config = all(a.status == PASSED for a in result.attempts)
        result.status = self._status(result)
        self._judge(result)
        self.results.append(result)
        return result

    def _sequential_rule(self, entry: ResolvedEntry, result: EntryResult) -> SequentialRule:
        """The SPRT that decides whether failures are flakes, from the scenario's measured
        flake probability (its good runs in history; the prior alone without history)."""
        passes = failures = 0
        if self.history is not None:
            passes, failures = flake_evidence(self.history.results(entry.name, self.suite.history_runs))
        result.flake_probability = round(flake_probability(passes, failures), 4)
        miss = 1.0 - self.suite.confidence
        return SequentialRule(flake_probability=result.flake_probability, alpha=miss, beta=miss, max_runs=entry.retries + 1)

    def _rerun(self, entry: ResolvedEntry, result: EntryResult, rule: SequentialRule,
               attempt: int, budget: int) -> bool:
        """Run the scenario again? Within the budget: while failures are undecided (SPRT
        over attempts, pooled request SLOs) or a pooled verdict is inconclusive. All
        passed and decided: while a rank regression check is inconclusive and may take
        more runs (its own budget, `regression.max_runs`)."""
        statuses = [a.status for a in result.attempts]
        # Attempts that gave no verdict (infrastructure errors) get reruns of their own, up to
        # `error_retries`, on top of the budget `retries` sets.
        budget += min(statuses.count(ERROR), entry.error_retries)
        if statuses[-1] == ERROR:  # infrastructure: retried within the budget, no verdict
            return attempt < budget if result.sequential is None else self._undecided(result, attempt, budget)
        judged = [a for a in result.attempts if a.status != ERROR]
        if self.suite.pool_attempts:  # only attempts of one config pool (retry_set may differ)
            first = result.attempt_configs[0]
            result.pooled = pooled_verdicts(entry.scenario, [
                a.run_dir for a, h in zip(result.attempts, result.attempt_configs, strict=True)
                if a.status != ERROR and h == first])
        if FAILED in statuses:
            result.sequential = rule.decide([a.status == PASSED for a in judged])
            return self._undecided(result, attempt, budget)
        if self.suite.rerun_inconclusive and any(v.inconclusive for v in result.pooled):
            if attempt < budget:
                return True
        policy = entry.regression
        if self.history is None or policy.method != "rank":
            return False
        result.run_metrics.append(result.attempts[-1].key_metrics)
        baseline = self.history.baseline_metrics(entry.name, config_hash(entry.scenario), policy.baseline_runs)
        verdicts = check_regressions(result.run_metrics[-1], baseline, policy, candidate_runs=result.run_metrics)
        return any(v.inconclusive for v in verdicts) and len(result.run_metrics) < policy.max_runs

    def _undecided(self, result: EntryResult, attempt: int, budget: int) -> bool:
        if _pooled_fail(result) or _pooled_explains(result):
            return False
        decision = result.sequential
        if decision is not None and decision.state == "fail":
            return False
        if decision is not None and decision.state == "pass" and not any(v.inconclusive for v in result.pooled):
            return False
        return attempt < budget

    @staticmethod
    def _status(result: EntryResult) -> str:
        decision = result.sequential
        if (decision is not None and decision.state == "fail") or _pooled_fail(result):
            return FAILED
        failed = any(a.status == FAILED for a in result.attempts)
        if (decision is not None and decision.state == "pass") or (failed and _pooled_explains(result)):
            return FLAKY
        return classify_attempts([a.status for a in result.attempts])

    def _run_once(self, entry: ResolvedEntry, scenario: Scenario, overrides: list[str]) -> tuple[RunOutcome, bool]:
        from harness.report.run_results import RunResults
        from harness.run.runner import Runner  # imports Ray: only once everything is validated

        runner = Runner(scenario=scenario, scenario_file=entry.scenario_file, results_root=self.suite_dir,
                        reporter=RunResults(), overrides=overrides,
                        console=self.console, pool=self.pool, share_cluster=entry.entry.reuse_cluster,
                        release=self.release or "")
        return runner.run(), runner.lease.shared

    def _skip(self, entry: ResolvedEntry, reason: str, quarantined: bool) -> EntryResult:
        result = EntryResult(entry=entry, status=SKIPPED, skipped_reason=reason)
        if quarantined:
            result.quarantine = {"scenario": entry.name}
        self.results.append(result)
        return result

    def _judge(self, result: EntryResult) -> None:
        entry = result.entry
        final = result.attempts[-1]
        if result.status in (PASSED, FLAKY):
            result.metrics = final.key_metrics
            if self.history is not None:
                baseline = self.history.baseline_metrics(
                    entry.name, result.config_hash, entry.regression.baseline_runs)
                runs = result.run_metrics or [result.metrics]
                result.regressions = check_regressions(result.metrics, baseline, entry.regression,
                                                       candidate_runs=runs)
        q = result.quarantine
        result.decision = decide(
            result.status,
            stable=entry.entry.stable,
            quarantine_note=None if q is None else f"{q['reason']}; owner {q['owner']}",
            flaky_blocks=self.suite.flaky_blocks,
            failed_slos=result.failed_slos(),
            regressions=[r.message for r in result.regressions if r.regressed],
            regressions_block=entry.regression.blocks,
            sequential=_failure_note(result),
        )
        if result.status in (PASSED, FLAKY) and any(r.regressed for r in result.regressions):
            result.status = REGRESSED  # never a baseline run; a failure for the state
        if self.history is not None:
            self.history.record(StoredResult(
                scenario=entry.name, status=result.status, suite=self.suite.name,
                suite_run=self.run_name, config_hash=result.config_hash,
                started_at=final.started_at, attempts=len(result.attempts),
                blocking=result.decision.blocking, quarantined=q is not None,
                metrics=result.metrics, failed_slos=result.failed_slos(),
                run_dirs=[a.run_dir for a in result.attempts], label=self.release,
                versions={**versions(), "app": self.app_version or app_version(entry.scenario.app)},
            ))
            self._accept_by_policy(entry, result)
            statuses = [r.status for r in self.history.results(entry.name, self.rules.window)]
            result.state = current_state(statuses, q is not None, self.rules).value
            result.flake_rate = round(flake_rate(statuses, self.rules), 4)

    def _accept_by_policy(self, entry: ResolvedEntry, result: EntryResult) -> None:
        """The suite's explicit rule, if it sets one: N regressed runs in a row become the baseline."""
        n = entry.regression.accept_after
        if self.history is None or n is None or result.status != REGRESSED:
            return
        recent = self.history.results(entry.name, n)
        if len(recent) == n and all(r.status == REGRESSED and r.config_hash == result.config_hash for r in recent):
            self.history.accept_baseline(entry.name, f"regression.accept_after: {n} regressed runs in a row",
                                         accepted_by=f"suite {self.suite.name} policy")

    # -- the end ---------------------------------------------------------------

    def exit_code(self) -> int:
        config_error = any(a.error_kind == CONFIG_ERROR for r in self.results for a in r.attempts)
        return suite_exit_code([(r.status, r.decision.blocking, r.eligible) for r in self.results], config_error)

    def finish(self, report_unrun: bool = True) -> SuiteOutcome:
        """Stop the shared cluster, write junit.xml and summary.json, point latest-suite here.

        Entries never run (interrupt, suite timeout) are reported as skipped unless
        `report_unrun` is false (pytest deselected them on purpose).
        """
        killed = self.pool.close()
        ran = {r.name for r in self.results}
        for entry in self.resolved.entries:
            if report_unrun and entry.name not in ran:
                self._skip(entry, self.stopped or "not run", self.quarantine.find(entry.name) is not None)
        code = self.exit_code()
        summary = report.build_summary(self, code, killed)
        report.write_reports(self, summary)
        try:
            point_symlink(self.results_root / LATEST_SUITE, self.suite_dir.name)
        except OSError as exc:
            summary.setdefault("notes", []).append(f"could not update {LATEST_SUITE}: {exc}")
        report.print_suite(self.console, self, code)
        return SuiteOutcome(suite_dir=self.suite_dir, exit_code=code, results=self.results, summary=summary)
