"""harness.app.deploy.EarlyServe: Serve's start on a thread of its own, handed over at deploy."""

from __future__ import annotations

import threading

import pytest

from harness.app.deploy import AppNotReady, EarlyServe


def test_begun_start_runs_on_its_own_thread_and_hands_over_the_client() -> None:
    threads: list[str] = []

    def start() -> str:
        threads.append(threading.current_thread().name)
        return "client"

    early = EarlyServe(start)
    early.begin()
    assert early.result(timeout_s=5) == "client"
    assert threads == ["serve-start"]


def test_never_begun_start_runs_in_the_caller() -> None:
    """A cluster that never called on_connected (autoscaling, shared): the deploy starts Serve itself."""
    early = EarlyServe(lambda: threading.current_thread().name)
    assert early.result(timeout_s=5) == threading.current_thread().name


def test_an_error_on_the_thread_is_raised_at_the_deploy() -> None:
    def start() -> None:
        raise RuntimeError("controller did not start")

    early = EarlyServe(start)
    early.begin()
    with pytest.raises(RuntimeError, match="controller did not start"):
        early.result(timeout_s=5)


def test_a_start_that_does_not_end_is_an_app_not_ready() -> None:
    gate = threading.Event()
    early = EarlyServe(lambda: gate.wait(10))
    early.begin()
    with pytest.raises(AppNotReady, match="did not start within"):
        early.result(timeout_s=0.05)
    gate.set()
    early.join(timeout_s=5)
