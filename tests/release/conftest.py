"""The release suites as pytest tests: `pytest tests/release --suite nightly --junitxml=...`.

Each test is one scenario of the suite, run with the suite's retries on a cluster
shared the same way `harness suite` shares it. A blocking result fails the test; a
failure that does not block (unstable, quarantined) is an xfail; a flaky result
passes with a `flaky` property. At the end the suite's own junit.xml, summary.json
and history are written as `harness suite` writes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gate.history import History
from harness.gate.suite_cmd import HISTORY_FILE, QUARANTINE_FILE, SUITES_DIR
from harness.gate.suite_config import ResolvedSuite, find_suite_file, load_quarantine, load_suite
from harness.model.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SEEDED = "test_seeded_regressions.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The seeded-regression set runs only when named (`make regressions`), not with a suite."""
    if collection_path.name == SEEDED:
        return not any(SEEDED in str(arg) for arg in config.args)
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("release suites")
    group.addoption("--suite", default=os.environ.get("HARNESS_SUITE", "smoke"),
                    help="suite to run: a name in configs/suites or a file (default: smoke)")
    group.addoption("--results", default="results", help="results root (default: results/)")
    group.addoption("--quarantine", default=str(QUARANTINE_FILE), help="quarantine list")


def _resolved(config: pytest.Config) -> ResolvedSuite:
    cached = getattr(config, "_harness_suite", None)
    if cached is None:
        os.chdir(ROOT)  # scenario paths in suites are relative to the project root
        try:
            cached = load_suite(find_suite_file(config.getoption("--suite"), SUITES_DIR))
        except ConfigError as exc:
            raise pytest.UsageError("\n".join(exc.lines)) from None
        config._harness_suite = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "entry" in metafunc.fixturenames:
        entries = _resolved(metafunc.config).entries
        metafunc.parametrize("entry", entries, ids=[e.name for e in entries])


@pytest.fixture(scope="session")
def suite_session(pytestconfig: pytest.Config) -> Iterator[object]:
    from harness.gate.session import SuiteSession  # imports Ray

    results = Path(pytestconfig.getoption("--results"))
    try:
        quarantine = load_quarantine(pytestconfig.getoption("--quarantine"))
    except ConfigError as exc:
        raise pytest.UsageError("\n".join(exc.lines)) from None
    session = SuiteSession(_resolved(pytestconfig), results, history=History(results / HISTORY_FILE),
                           quarantine=quarantine)
    try:
        yield session
    finally:
        session.finish(report_unrun=False)  # deselected scenarios were left out on purpose
