"""Results of every scenario in every suite run, in SQLite under results/.

One row per scenario per suite run: its status (passed, failed, flaky, error,
regressed), attempts, whether it blocked, whether it was quarantined, the key
metrics of its final attempt, the SLOs that failed, the config fingerprint that
baselines compare on, the versions it ran with (Ray, harness, app) and an optional
label (the release tag). States and flake rates are computed from these rows
(harness.gate.states), never stored, so a rule change re-reads all history the
same way. Baselines are the passing runs only, from the latest accepted run on
(`harness baseline accept`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gate.states import FLAKY, PASSED, REGRESSED, RESULT_STATUSES

# 2: metric names say their population (harness.measure.stats); version 1 files are migrated.
SCHEMA_VERSION = 2
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    suite TEXT NOT NULL,
    suite_run TEXT NOT NULL,
    scenario TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    started_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in RESULT_STATUSES)})),
    attempts INTEGER NOT NULL,
    blocking INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    failed_slos TEXT NOT NULL,
    run_dirs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_scenario ON results (scenario, started_at);
"""
# Version 1 stored latencies of successful requests as p50_ms / p99_ms and the ok rate as
# throughput_rps. Today p50_ms / p99_ms are over every final request, so old rows move to
# the names of what they measured: a regression check compares like with like, and one
# on p99_ms finds no baseline in old rows rather than a different population.
V1_METRIC_NAMES = {"p50_ms": "p50_ok_ms", "p99_ms": "p99_ok_ms", "throughput_rps": "ok_rps"}
# Columns added since version 1, added in place to older files (nothing else changes).
_ADDED_COLUMNS = {
    "label": "TEXT NOT NULL DEFAULT ''",  # a release tag given with `harness suite --label`
    "versions": "TEXT NOT NULL DEFAULT '{}'",  # ray, harness, python, locust, app
}
# A person (or the suite's accept_after rule) accepting new numbers: from the accepted
# result on, baselines are taken from it and the passing runs after it.
_ACCEPTS = """
CREATE TABLE IF NOT EXISTS baseline_accepts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario TEXT NOT NULL,
    result_id INTEGER NOT NULL,
    accepted_at REAL NOT NULL,
    reason TEXT NOT NULL,
    accepted_by TEXT NOT NULL
);
"""


@dataclass(kw_only=True)
class StoredResult:
    scenario: str
    status: str
    suite: str = ""
    suite_run: str = ""
    config_hash: str = ""
    started_at: float = field(default_factory=time.time)
    attempts: int = 1
    blocking: bool = False
    quarantined: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    failed_slos: list[str] = field(default_factory=list)
    run_dirs: list[str] = field(default_factory=list)
    label: str = ""
    versions: dict[str, str] = field(default_factory=dict)


class History:
    """The history database; open it, record results, query per scenario."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(
                    f"{path}: history schema version {version}, expected {SCHEMA_VERSION} or older"
                )
            db.executescript(_SCHEMA)
            db.executescript(_ACCEPTS)
            have = {row["name"] for row in db.execute("PRAGMA table_info(results)")}
            for column, decl in _ADDED_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE results ADD COLUMN {column} {decl}")
            _allow_every_status(db)
            if version == 1:
                if not db.in_transaction:
                    db.execute("BEGIN IMMEDIATE")
                if db.execute("PRAGMA user_version").fetchone()[0] == 1:  # not migrated meanwhile
                    _rename_v1_metrics(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # in the migration's transaction

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A release test run and a CLI suite run may share the file: wait for the lock.
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            with db:  # one transaction, committed on success
                yield db

    def record(self, result: StoredResult) -> int:
        if result.status not in RESULT_STATUSES:
            raise ValueError(f"unknown result status {result.status!r}")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO results (suite, suite_run, scenario, config_hash, started_at, status,"
                " attempts, blocking, quarantined, metrics, failed_slos, run_dirs, label, versions)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.suite, result.suite_run, result.scenario, result.config_hash,
                 result.started_at, result.status, result.attempts, int(result.blocking),
                 int(result.quarantined), json.dumps(result.metrics),
                 json.dumps(result.failed_slos), json.dumps(result.run_dirs), result.label,
                 json.dumps(result.versions)),
            )
            return int(cursor.lastrowid or 0)

    def results(self, scenario: str, limit: int = 30) -> list[StoredResult]:
        """The scenario's last `limit` results, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM results WHERE scenario = ? ORDER BY started_at DESC, id DESC LIMIT ?",
                (scenario, limit),
            ).fetchall()
        return [_from_row(row) for row in reversed(rows)]

    def baseline_metrics(self, scenario: str, config_hash: str, limit: int) -> list[dict[str, float]]:
        """Metrics of the last `limit` passing (or flaky) runs with this config, newest first.

        A regressed run is never one of them. After an accept, only the accepted run
        (whatever its status) and the runs after it count: the baseline moves only then.
        """
        accepted = self.latest_accept(scenario)
        since = 0 if accepted is None else accepted.result_id
        with self._connect() as db:
            rows = db.execute(
                "SELECT metrics FROM results WHERE scenario = ? AND config_hash = ? AND id >= ?"
                " AND (status IN (?, ?) OR id = ?) ORDER BY started_at DESC, id DESC LIMIT ?",
                (scenario, config_hash, since, PASSED, FLAKY, since, limit),
            ).fetchall()
        return [json.loads(row["metrics"]) for row in rows]

    def accept_baseline(self, scenario: str, reason: str, accepted_by: str,
                        suite_run: str | None = None) -> BaselineAccept:
        """Accept the numbers of the scenario's latest judged run (or of `suite_run`) as its baseline."""
        query = "SELECT id, suite_run FROM results WHERE scenario = ? AND metrics != '{}'"
        args: tuple[Any, ...] = (scenario,)
        if suite_run is not None:
            query += " AND suite_run = ?"
            args += (suite_run,)
        with self._connect() as db:
            row = db.execute(query + " ORDER BY started_at DESC, id DESC LIMIT 1", args).fetchone()
            if row is None:
                raise LookupError(f"a recorded run of {scenario!r} with metrics"
                                  + (f" in suite run {suite_run!r}" if suite_run else ""))
            accept = BaselineAccept(scenario=scenario, result_id=int(row["id"]), suite_run=row["suite_run"], accepted_at=time.time(), reason=reason, accepted_by=accepted_by)
            db.execute(
                "INSERT INTO baseline_accepts (scenario, result_id, accepted_at, reason, accepted_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (scenario, accept.result_id, accept.accepted_at, reason, accepted_by),
            )
        return accept

    def accepts(self, scenario: str) -> list[BaselineAccept]:
        """Every baseline accept of the scenario, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT a.*, r.suite_run FROM baseline_accepts a LEFT JOIN results r ON r.id = a.result_id"
                " WHERE a.scenario = ? ORDER BY a.id", (scenario,),
            ).fetchall()
        return [BaselineAccept(scenario=row["scenario"], result_id=row["result_id"], suite_run=row["suite_run"] or "", accepted_at=row["accepted_at"],
                               reason=row["reason"], accepted_by=row["accepted_by"]) for row in rows]

    def latest_accept(self, scenario: str) -> BaselineAccept | None:
        found = self.accepts(scenario)
        return found[-1] if found else None

    def scenarios(self, suite: str | None = None) -> list[str]:
        query = "SELECT scenario, MAX(started_at) AS last FROM results"
        args: tuple[Any, ...] = ()
        if suite:
            query += " WHERE suite = ?"
            args = (suite,)
        with self._connect() as db:
            rows = db.execute(query + " GROUP BY scenario ORDER BY scenario", args).fetchall()
        return [row["scenario"] for row in rows]


def flake_evidence(results: list[StoredResult]) -> tuple[int, int]:
    """(passed attempts, failed attempts) of a scenario's good results: evidence of its
    flake probability (harness.gate.sequential.flake_probability).

    A passed or regressed result (its SLOs held) is one pass; a flaky one failed every
    attempt but its last. Failed results are left out: they may be a broken build, and
    counting them would teach the gate that failing is normal (so the estimate leans low
    and a failure needs fewer reruns to block). Errors are no verdict.
    """
    passes = failures = 0
    for r in results:
        if r.status in (PASSED, REGRESSED):
            passes += 1
        elif r.status == FLAKY:
            passes += 1
            failures += max(1, r.attempts - 1)
    return passes, failures


@dataclass(kw_only=True)
class BaselineAccept:
    scenario: str
    result_id: int  # the accepted run's row: the baseline starts there
    suite_run: str
    accepted_at: float
    reason: str
    accepted_by: str


def _allow_every_status(db: sqlite3.Connection) -> None:
    """A history made before a status existed (`regressed`) refuses it in its CHECK:
    rebuild the table under the current schema, every row and column kept."""
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'results'").fetchone()[0]
    if all(repr(status) in sql for status in RESULT_STATUSES):
        return
    columns = ", ".join(row[1] for row in db.execute("PRAGMA table_info(results)"))
    create_table, create_index = (part.strip() for part in _SCHEMA.split(";")[:2])
    if not db.in_transaction:
        db.execute("BEGIN IMMEDIATE")  # all or nothing: SQLite's DDL is transactional
    db.execute("ALTER TABLE results RENAME TO results_before")
    db.execute(create_table)
    for column, decl in _ADDED_COLUMNS.items():
        db.execute(f"ALTER TABLE results ADD COLUMN {column} {decl}")
    db.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM results_before")  # noqa: S608 - own column names
    db.execute("DROP TABLE results_before")
    db.execute(create_index)


def _rename_v1_metrics(db: sqlite3.Connection) -> None:
    """Every row's metrics under today's names (V1_METRIC_NAMES), values unchanged."""
    for row in db.execute("SELECT id, metrics FROM results").fetchall():
        metrics = json.loads(row[1])
        renamed = {V1_METRIC_NAMES.get(name, name): value for name, value in metrics.items()}
        if renamed != metrics:
            db.execute("UPDATE results SET metrics = ? WHERE id = ?", (json.dumps(renamed), row[0]))


def _from_row(row: sqlite3.Row) -> StoredResult:
    return StoredResult(
        scenario=row["scenario"], status=row["status"], suite=row["suite"],
        suite_run=row["suite_run"], config_hash=row["config_hash"], started_at=row["started_at"],
        attempts=row["attempts"], blocking=bool(row["blocking"]),
        quarantined=bool(row["quarantined"]), metrics=json.loads(row["metrics"]),
        failed_slos=json.loads(row["failed_slos"]), run_dirs=json.loads(row["run_dirs"]),
        label=row["label"], versions=json.loads(row["versions"]),
    )
