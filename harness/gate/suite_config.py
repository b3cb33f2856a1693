"""Suite and quarantine files: typed, validated whole before any scenario starts.

A suite lists scenario files (each with optional `--set` overrides), how often it
runs, whether each scenario blocks a release (`stable: false` reports but never
blocks), a timeout, retries on failure and the regression policy. Every scenario
it names is loaded and validated too, so a typo anywhere stops the suite before a
cluster starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.gate import ranktest
from harness.measure import stats
from harness.model.errors import ConfigError, format_validation_error
from harness.model.scenario import Scenario
from harness.scenario.loader import load_scenario, read_yaml

EntryName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
Pct = Annotated[float, Field(gt=0, le=10_000)]

# Key metrics a run leaves for history and regression checks (harness.measure.stats.KEY_METRICS).
KEY_METRICS = stats.KEY_METRICS
KeyMetric = Literal["p50_ms", "p99_ms", "p50_ok_ms", "p99_ok_ms", "ok_rps", "sent_rps", "success_ratio"]
# Older names a suite may still write: the same quantity under today's name.
METRIC_ALIASES = {"throughput_rps": "ok_rps"}
# What each key metric is taken over (harness.measure.stats), one value per run.
POPULATIONS = {
    "p50_ms": "p50 of every final request, per run",
    "p99_ms": "p99 of every final request, per run",
    "p50_ok_ms": "p50 of successful requests, per run",
    "p99_ok_ms": "p99 of successful requests, per run",
    "ok_rps": "successful requests per second, per run",
    "sent_rps": "requests sent per second, per run",
    "success_ratio": "successful / final requests, per run",
}
LATENCY_METRICS = ("p50_ms", "p99_ms", "p50_ok_ms", "p99_ok_ms")
# A latency check is judged together with one of these falling: shedding or failing more
# reshapes every latency population (fast 503s pull p50_ms down, timeouts leave only the
# fast requests in p*_ok_ms), so a build must not pass by looking faster while failing more.
FAILURE_GUARDS = ("success_ratio", "ok_rps")
# Rank method defaults (harness.gate.regression): one-sided alpha over all looks.
RANK_ALPHA = 0.01
RANK_MAX_RUNS = 3
RANK_BASELINE_RUNS = 12
PERCENT_BASELINE_RUNS, PERCENT_MIN_BASELINE_RUNS = 5, 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegressionCheck(_Strict):
    """One metric compared with its baseline: it may rise (or fall) by at most this much."""

    metric: KeyMetric
    max_increase_pct: Pct | None = None
    max_decrease_pct: Pct | None = None

    @field_validator("metric", mode="before")
    @classmethod
    def _today_name(cls, value: object) -> object:
        return METRIC_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_direction(self) -> RegressionCheck:
        if (self.max_increase_pct is None) == (self.max_decrease_pct is None):
            raise ValueError("expected exactly one of max_increase_pct or max_decrease_pct")
        return self


class RegressionPolicy(_Strict):
    # rank: Mann-Whitney U and the Hodges-Lehmann shift over per-run values (a test and
    # an effect size); percent: the final run's change against the baseline median.
    method: Literal["rank", "percent"] = "rank"
    # The last `baseline_runs` passing runs with the same resolved config (default:
    # rank 12, percent 5).
    baseline_runs: Annotated[int, Field(ge=1, le=100)] | None = None
    # No verdict until this many comparable runs exist (a new scenario never blocks).
    # Default: percent 3; rank the fewest at which the test can block within max_runs
    # at alpha (10 for 3 runs at 1%); fewer is refused, the test could never block.
    min_baseline_runs: Annotated[int, Field(ge=1, le=100)] | None = None
    # rank: chance that a good build is blocked, over all looks (one-sided).
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = RANK_ALPHA
    # rank: candidate runs a check may take; an inconclusive check reruns the scenario.
    max_runs: Annotated[int, Field(ge=1, le=10)] = RANK_MAX_RUNS
    blocks: bool = True
    # A regressed run never enters the baseline; new numbers become it when a person
    # runs `harness baseline accept`, or, only if set, after this many regressed runs
    # in a row (same config).
    accept_after: Annotated[int, Field(ge=1, le=100)] | None = None
    checks: list[RegressionCheck] = Field(default_factory=lambda: [
        RegressionCheck(metric="p99_ok_ms", max_increase_pct=50),
        RegressionCheck(metric="ok_rps", max_decrease_pct=30),
    ])

    @model_validator(mode="after")
    def _enough_runs(self) -> RegressionPolicy:
        if self.method == "rank":
            fewest = ranktest.min_rank_baseline(self.max_runs, self.alpha)
            if self.min_baseline_runs is None:
                self.min_baseline_runs = fewest
            elif self.min_baseline_runs < fewest:
                raise ValueError(
                    f"expected min_baseline_runs >= {fewest}: with {self.min_baseline_runs} baseline "
                    f"runs and max_runs {self.max_runs} a rank test can never reach alpha "
                    f"{self.alpha:g} (raise max_runs or alpha, or use method: percent)")
            if self.baseline_runs is None:
                self.baseline_runs = max(RANK_BASELINE_RUNS, self.min_baseline_runs)
        else:
            if self.baseline_runs is None:
                self.baseline_runs = max(PERCENT_BASELINE_RUNS, self.min_baseline_runs or 1)
            if self.min_baseline_runs is None:
                self.min_baseline_runs = min(PERCENT_MIN_BASELINE_RUNS, self.baseline_runs)
        if self.min_baseline_runs > self.baseline_runs:
            raise ValueError("expected min_baseline_runs <= baseline_runs")
        return self

    @model_validator(mode="after")
    def _latency_with_its_failures(self) -> RegressionPolicy:
        guarded = any(c.metric in FAILURE_GUARDS and c.max_decrease_pct is not None for c in self.checks)
        latency = [c.metric for c in self.checks if c.metric in LATENCY_METRICS]
        if latency and not guarded:
            raise ValueError(
                f"expected a success_ratio or ok_rps check with max_decrease_pct beside "
                f"{', '.join(latency)}: a build that sheds or fails more changes which requests "
                "a latency is taken over, and must not pass by looking faster")
        return self


class SuiteEntry(_Strict):
    scenario: str = Field(min_length=1)  # a scenario file; relative to the cwd or the suite file
    name: EntryName | None = None  # defaults to the scenario's name; history is kept per name
    set: list[str] = Field(default_factory=list)  # --set overrides for every attempt
    # --set overrides for reruns only (e.g. more logging, a longer warm-up).
    retry_set: list[str] = Field(default_factory=list)
    stable: bool = True  # false: runs and reports, never blocks
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    error_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    # None: reuse the suite's cluster unless the scenario has chaos (it destroys nodes).
    reuse_cluster: bool | None = None
    regression: RegressionPolicy | None = None


class Suite(_Strict):
    name: EntryName
    description: str = ""
    frequency: Literal["presubmit", "nightly", "nightly-3x", "weekly", "manual"]
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = 3600  # the whole suite
    retries: Annotated[int, Field(ge=0, le=10)] = 1  # default for entries
    # Reruns of an attempt that ended in an infrastructure error (exit 3, no verdict: a load
    # generator that fell behind, a part that died), on top of `retries`; default for entries.
    error_retries: Annotated[int, Field(ge=0, le=10)] = 0
    flaky_blocks: bool = False  # a fail-then-pass blocks only when this is true
    # Reruns of a failed scenario decide "broken" or "flaky" at this confidence (SPRT:
    # harness.gate.sequential, alpha = beta = 1 - confidence).
    confidence: Annotated[float, Field(ge=0.8, le=0.999)] = 0.95
    # Judge request percentile and ratio SLOs over every attempt's requests (pooled).
    pool_attempts: bool = True
    # Rerun (within `retries`) a passing scenario whose pooled verdict is inconclusive.
    rerun_inconclusive: bool = True
    history_runs: Annotated[int, Field(ge=1, le=1000)] = 30  # results kept in view per scenario
    regression: RegressionPolicy = Field(default_factory=RegressionPolicy)
    # Keys of a Serve config file that Ray does not know refuse the suite (as --strict does).
    strict: bool = False
    scenarios: list[SuiteEntry] = Field(min_length=1, max_length=500)


class QuarantineEntry(_Strict):
    scenario: EntryName
    reason: str = Field(min_length=3)
    owner: str = Field(min_length=1)
    issue: str | None = None
    since: str | None = None


class QuarantineList(_Strict):
    quarantine: list[QuarantineEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> QuarantineList:
        names = [q.scenario for q in self.quarantine]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"expected each scenario once, got duplicates {dupes}")
        return self

    def find(self, name: str) -> QuarantineEntry | None:
        return next((q for q in self.quarantine if q.scenario == name), None)


@dataclass(kw_only=True)
class ResolvedEntry:
    """A suite entry with its scenario loaded and validated (first attempt and reruns)."""

    index: int
    name: str
    entry: SuiteEntry
    scenario_file: str
    overrides: list[str]
    retry_overrides: list[str]
    scenario: Scenario
    retry_scenario: Scenario
    retries: int
    regression: RegressionPolicy
    error_retries: int = 0
    config_hash: str = ""

    def scenario_for(self, attempt: int) -> tuple[Scenario, list[str]]:
        """The scenario and the overrides of attempt 1, 2, ..."""
        if attempt <= 1:
            return self.scenario, self.overrides
        return self.retry_scenario, self.retry_overrides


@dataclass
class ResolvedSuite:
    suite: Suite
    path: str
    entries: list[ResolvedEntry] = field(default_factory=list)


def config_hash(scenario: Scenario) -> str:
    """Fingerprint of a resolved scenario: baselines only compare runs with the same one."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_suite_file(name: str, suites_dir: Path) -> Path:
    """`nightly` -> configs/suites/nightly.yaml; a path is taken as is."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return suites_dir / f"{name}.yaml"


def _scenario_path(raw: str, suite_path: Path) -> Path | None:
    path = Path(raw)
    if path.is_absolute():
        return path if path.is_file() else None
    if path.is_file():
        return path  # relative to the current directory (the project root)
    beside = suite_path.parent / path
    return beside if beside.is_file() else None


def load_suite(path: str | Path, strict: bool = False) -> ResolvedSuite:
    """Read and validate a suite and every scenario it names (with each entry's `set:`); raise
    ConfigError listing all problems, each naming its entry. strict (or the suite's own
    `strict: true`): keys of a Serve config file that Ray does not know are errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: expected an existing suite file"])
    data = read_yaml(path)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    resolved = ResolvedSuite(suite, str(path))
    strict = strict or suite.strict
    errors: list[str] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(suite.scenarios):
        key = f"scenarios.{index}"
        scenario_path = _scenario_path(entry.scenario, path)
        if scenario_path is None:
            errors.append(f"{path}: {key}.scenario: expected an existing scenario file (got {entry.scenario!r})")
            continue
        overrides = list(entry.set)
        if entry.timeout_s is not None:
            overrides.append(f"timeout_s={entry.timeout_s:g}")
        retry_overrides = overrides + list(entry.retry_set)
        try:
            scenario = load_scenario(scenario_path, overrides, strict=strict)
            retry_scenario = load_scenario(scenario_path, retry_overrides, strict=strict)
        except ConfigError as exc:
            label = f"{key} ({entry.name})" if entry.name else key  # the entry, as history names it
            errors.extend(f"{path}: {label}: {line}" for line in exc.lines)
            continue
        name = entry.name or scenario.name
        if name in seen:
            errors.append(
                f"{path}: {key}.name: expected a name unique in the suite, {name!r} is also "
                f"scenarios.{seen[name]} (set `name:` on one of them)"
            )
            continue
        seen[name] = index
        resolved.entries.append(ResolvedEntry(
            index=index, name=name, entry=entry, scenario_file=str(scenario_path),
            overrides=overrides, retry_overrides=retry_overrides, scenario=scenario,
            retry_scenario=retry_scenario,
            retries=suite.retries if entry.retries is None else entry.retries,
            error_retries=suite.error_retries if entry.error_retries is None else entry.error_retries,
            regression=entry.regression or suite.regression, config_hash=config_hash(scenario),
        ))
    if errors:
        raise ConfigError(errors)
    return resolved


def load_quarantine(path: str | Path | None) -> QuarantineList:
    """The quarantine list; a missing default file means an empty list."""
    if path is None or not Path(path).exists():
        return QuarantineList()
    data = read_yaml(Path(path))
    try:
        return QuarantineList.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
