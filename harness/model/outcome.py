"""The result of one run, as plain data that every reporter reads: the SLO verdicts and the outcome."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

EXIT_PASSED = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
# An error kind that is the scenario's fault, found only once the run started (an SLO
# naming a deployment an import-path app does not have): exit 2, no verdict.
CONFIG_ERROR = "config"


# A verdict's outcome at the scenario's confidence (harness.measure.confidence decides it).
Outcome = Literal["pass", "fail", "inconclusive"]
PASS: Outcome = "pass"
FAIL: Outcome = "fail"
INCONCLUSIVE: Outcome = "inconclusive"


LINE_WIDTH = 80


def one_line(text: str, width: int = LINE_WIDTH) -> str:
    """Text on one line (whitespace collapsed), cut to `width` columns with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


@dataclass(kw_only=True)
class Verdict:
    name: str
    check: str
    window: str
    passed: bool
    measured: float | None
    bound: float
    op: str
    unit: str
    message: str
    window_start: float | None = None
    window_end: float | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    why: str | None = None  # the cause of a failure, in full (the message repeats it)
    on_no_data: str = "fail"  # the SLO's policy when nothing was measured
    no_data: bool = False  # nothing was measured: `passed` is the policy's answer
    # pass / fail / inconclusive (harness.measure.confidence.outcome): the verdict at the
    # scenario's confidence. `passed` (and the exit code) stays the point estimate's.
    outcome: str = ""
    # {low, high, confidence, method}: percentiles and ratios; None for counts and times.
    interval: dict[str, Any] | None = None
    # Fail-fast (harness.run.failfast): when the SLO was certain to fail, in seconds from
    # the window's start, and the window's planned length; aborted: the run was ended then.
    decided_at_s: float | None = None
    planned_s: float | None = None
    aborted: bool = False

    def __post_init__(self) -> None:
        if not self.outcome:  # a verdict built without one (older callers): the point verdict
            self.outcome = PASS if self.passed else FAIL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def inconclusive(self) -> bool:
        return self.outcome == INCONCLUSIVE

    def interval_text(self) -> str:
        """`[861.0ms, 1004.0ms]` (an open side: `-inf` / `inf`); '' without an interval."""
        if not self.interval:
            return ""
        low, high = self.interval.get("low"), self.interval.get("high")
        low_text = "-inf" if low is None else format_value(low, self.unit)
        high_text = "inf" if high is None else format_value(high, self.unit)
        return f"[{low_text}, {high_text}]"

    def result_text(self) -> str:
        """PASS / FAIL, then why the outcome differs or when the run was decided early."""
        mark = "PASS" if self.passed else "FAIL"
        notes = []
        if self.inconclusive and self.interval:
            level = f"{float(self.interval['confidence']) * 100:g}%"
            notes.append(f"inconclusive: bound inside the {level} interval")
        if self.decided_at_s is not None and self.planned_s is not None:
            notes.append(f"decided at {self.decided_at_s:.1f} s of {self.planned_s:.0f} s"
                         + (" (aborted)" if self.aborted else ""))
        return f"{mark} ({'; '.join(notes)})" if notes else mark

    def interval_line(self, width: int = LINE_WIDTH) -> str:
        """`p(99) 912ms [861, 1004] < 1000ms  PASS (inconclusive: ...)`, at most `width` columns.

        The outcome's note is shortened before anything else is cut.
        """
        label = self.check.split(self.op, 1)[0].strip() if self.name == self.check else one_line(self.name, width // 3)
        measured = compact_value(self.measured, self.unit)
        interval = ""
        if self.interval:
            low, high = self.interval.get("low"), self.interval.get("high")
            plain = "ratio" if self.unit == "ratio" else ""  # the unit once, on the bound
            interval = (f" [{'-inf' if low is None else compact_value(low, plain or 'number')}, "
                        f"{'inf' if high is None else compact_value(high, plain or 'number')}]")
        head = f"{label} {measured}{interval} {self.op} {compact_value(self.bound, self.unit)}  "
        text = head + self.result_text()
        if len(text) > width and self.inconclusive and self.interval:
            level = f"{float(self.interval['confidence']) * 100:g}%"
            text = head + self.result_text().replace(f"inconclusive: bound inside the {level} interval",
                                                     f"inconclusive at {level}")
        return one_line(text, width)

    def line(self, width: int = LINE_WIDTH) -> str:
        """The verdict in one line of at most `width` columns (CI logs, the terminal).

        A failure leads with its cause; the full text stays in `message` (JUnit,
        summary.json).
        """
        mark = "PASS" if self.passed else "FAIL"
        cause = self.why or self.message.removeprefix(self.check).lstrip(" :")  # the name already says the check
        name = one_line(self.name, max(width // 2, 12))  # a long name must not crowd out the cause
        return one_line(f"{mark} {name}: {cause}", width)


def compact_value(value: float | None, unit: str) -> str:
    """A value for a dense line: whole milliseconds from 100 ms up, else format_value."""
    if value is None or math.isinf(value):
        return format_value(value, unit)
    if unit == "ms":
        return f"{value:.0f}ms" if abs(value) >= 100 else f"{value:.1f}ms"
    if unit == "number":
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return format_value(value, unit)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.1f}ms"
    if unit == "s":
        return f"{value:.2f}s"
    if unit == "rps":
        return f"{value:.1f} req/s"
    if unit == "MB":
        return f"{value:.1f}MB"
    return f"{value:g}"



@dataclass(kw_only=True)
class RunOutcome:
    run_id: str
    scenario_name: str
    scenario_file: str
    seed: int
    run_dir: str
    started_at: float
    ended_at: float = 0.0
    verdicts: list[Verdict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # harness.measure.stats.key_metrics of the `load` window, from the run's one read of its
    # timeline: what history keeps and regression checks compare ({}: no load window).
    key_metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # An infrastructure or harness problem: the run is no verdict on the release.
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "passed" if all(v.passed for v in self.verdicts) else "failed"

    @property
    def exit_code(self) -> int:
        if self.error_kind == CONFIG_ERROR:
            return EXIT_USAGE
        return {"passed": EXIT_PASSED, "failed": EXIT_SLO_FAILED, "error": EXIT_INFRA}[self.status]

    @property
    def reproduce_command(self) -> str:
        """Relative to the working folder the run was started from (the repository, in
        CI), so it works in a checkout elsewhere; `harness reproduce` takes the folder
        wherever it was downloaded to as well."""
        return f"harness reproduce {shlex.quote(relative_to_cwd(self.run_dir))}"

    def fail(self, kind: str, message: str) -> None:
        """Record the first infrastructure error; later ones become notes."""
        if self.error is None:
            self.error, self.error_kind = message, kind
        else:
            self.notes.append(f"{kind}: {message}")


def relative_to_cwd(path: str) -> str:
    """`path` relative to the working folder when it lies inside it; as given otherwise."""
    absolute = Path(path)
    try:
        return str(absolute.relative_to(Path.cwd())) if absolute.is_absolute() else path
    except ValueError:
        return path
