"""The result of one run, as plain data that every reporter reads."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.slo.core import Verdict

EXIT_PASSED = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
# An error kind that is the scenario's fault, found only once the run started (an SLO
# naming a deployment an import-path app does not have): exit 2, no verdict.
CONFIG_ERROR = "config"


@dataclass
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
