"""A bisect's state: its commits, every run per commit and the settings it decides with.

Kept in <results>/bisect-<scenario>-<good>-<bad>/bisect.json, written atomically after
every run (harness.files), so a bisect stopped at any point resumes from its last run:
the next step is recomputed from the runs (harness.gate.bisect.search).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.files import write_json_atomic

STATE_FILE = "bisect.json"
STATE_VERSION = 1
# Settings that must match for a rerun to resume a stopped bisect.
RESUME_KEYS = ("scenario_file", "repo", "good", "bad", "overrides", "alpha", "flake_arg",
               "broken_probability", "max_runs", "measure_runs", "setup")


@dataclass(kw_only=True)
class RunRecord:
    """One run of the scenario on one commit."""

    status: str  # passed | failed | error
    run_dir: str = ""
    seconds: float = 0.0
    error: str = ""
    # SLO name -> {"measured": float | None, "passed": bool, "unit": str, "check": str}
    slos: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # harness.gate.metrics.key_metrics

    @property
    def judged(self) -> bool:
        return self.status in ("passed", "failed")


@dataclass
class Commit:
    sha: str
    subject: str
    runs: list[RunRecord] = field(default_factory=list)

    def outcomes(self) -> list[bool]:
        return [r.status == "passed" for r in self.runs if r.judged]

    def errors(self) -> int:
        return sum(1 for r in self.runs if not r.judged)


@dataclass(kw_only=True)
class BisectState:
    scenario: str
    scenario_file: str
    repo: str
    good: str
    bad: str
    overrides: list[str]
    alpha: float
    flake_arg: float | None  # --flake-rate as given
    flake: float | None  # given or from history; None: measured on the good commit
    flake_source: str  # "--flake-rate", "history (N runs)" or "measured on the good commit"
    broken_probability: float
    max_runs: int
    measure_runs: int
    setup: str | None
    commits: list[Commit]
    started_at: float
    elapsed_s: float = 0.0  # wall time spent running, summed over resumes
    result: dict[str, Any] | None = None
    version: int = STATE_VERSION

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RESUME_KEYS}

    def outcomes(self) -> list[list[bool]]:
        return [c.outcomes() for c in self.commits]

    def total_runs(self) -> int:
        return sum(len(c.runs) for c in self.commits)

    def save(self, folder: Path) -> None:
        write_json_atomic(folder / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> BisectState | None:
        path = folder / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: expected a bisect state file ({exc})") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: version: expected {STATE_VERSION}")
        try:
            commits = [Commit(c["sha"], c["subject"], [RunRecord(**r) for r in c["runs"]])
                       for c in data.pop("commits")]
            return cls(commits=commits, **data)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: expected a bisect state file ({exc})") from None


def resume_mismatch(stored: BisectState, wanted: dict[str, Any]) -> list[str]:
    """The settings that differ between a stopped bisect and this command."""
    have = stored.settings()
    return [f"{k}: stored {have[k]!r}, now {wanted[k]!r}" for k in RESUME_KEYS if have[k] != wanted[k]]
