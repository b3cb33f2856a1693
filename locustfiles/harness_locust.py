"""The harness's locustfile: the load shape, the closed and open users, and their records.

Configured by the JSON file named by HARNESS_LOAD_CONFIG (written by harness.load.process),
so the locust command line stays plain; harness.load.process names the user class to run
(ClosedUser or OpenUser, or HarnessClosedUser / HarnessOpenUser around the user's
own class: locustfiles.userclass) on the command line. Locust finds users and shapes only
as module attributes, hence the one module-level STATE.
"""

from __future__ import annotations

import signal
import time

import gevent
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner

from locustfiles.load_gate import await_go, gated
from locustfiles.load_state import ORIGIN_MESSAGE, LoadState

STATE = LoadState.from_environment()
LOAD = STATE.load


# A standalone process or master told to stop early (SIGINT: fail-fast, harness.run.failfast) stops
# sending and quits through Locust's own path (windows closed at the quit, report written).
# Python's default SIGINT handler would raise KeyboardInterrupt in whichever greenlet runs
# (a request's), leaving the load to play out; a gevent handler runs in a greenlet of its own.
STOP_GRACE_S = 1.0  # in-flight requests get this long to answer


def _stop_now(environment) -> None:
    STATE.stop_now()
    environment.stop_timeout = STOP_GRACE_S
    environment.runner.quit()


@events.init.add_listener
def _on_init(environment, **_kwargs):
    # Started ahead (harness.load.process.LoadProcess.prestart): wait for the harness's go.
    if gated() and STATE.role == "standalone":
        await_go(environment)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(ORIGIN_MESSAGE, lambda msg, **_kw: STATE.set_origin(msg.data))
    if STATE.role in ("standalone", "master"):
        # The master too: under load the default KeyboardInterrupt landed in a message
        # greenlet and the master played on until it was killed (no end phase, no report).
        gevent.signal_handler(signal.SIGINT, _stop_now, environment)


@events.test_start.add_listener
def _on_start(environment, **_kwargs):
    if STATE.role != "worker":
        STATE.choose_origin(environment.runner)


@events.quitting.add_listener
def _on_quit(environment, **_kwargs):
    STATE.close()


class HarnessShape(LoadTestShape):
    """Users (closed model) or one dispatcher per sending process (open model), until the end."""

    def tick(self):
        STATE.choose_origin(self.runner)
        elapsed = STATE.elapsed()
        if elapsed >= STATE.duration_s:
            return None
        if STATE.is_open:
            return STATE.senders, float(STATE.senders)
        piece = STATE.profile.piece_at(max(0.0, elapsed))
        users = round(STATE.profile.level(max(0.0, elapsed)))
        spawn_rate = (piece.spawn_rate if piece is not None else None) or LOAD["spawn_rate"]
        return users, float(spawn_rate)


class OwnTarget:
    """A worker placed on a cluster node sends to its own node's proxy, whatever host the master
    names (Locust's master hands every worker its --host with each spawn message)."""

    def __init__(self, environment, *args, **kwargs):
        if STATE.target:
            self.host = STATE.target
        super().__init__(environment, *args, **kwargs)


class ClosedUser(OwnTarget, FastHttpUser):
    """Locust's own model: each user sends, waits for the answer, waits wait_ms, repeats."""

    wait_time = constant(LOAD["wait_ms"] / 1000.0)
    network_timeout = LOAD["request_timeout_s"]
    connection_timeout = LOAD["request_timeout_s"]

    @task
    def call(self) -> None:
        if STATE.elapsed() >= STATE.duration_s:
            raise StopUser()  # the shape stops users at its next tick; send nothing past the end
        STATE.caller.call(self.client, STATE.next_id(), time.time(), time.perf_counter())


class OpenUser(OwnTarget, FastHttpUser):
    """The open model's dispatcher: sends on the seeded schedule, whatever the server does."""

    wait_time = constant(0)
    network_timeout = LOAD["request_timeout_s"]
    connection_timeout = LOAD["request_timeout_s"]
    concurrency = LOAD["max_in_flight"]

    @task
    def dispatch(self) -> None:
        STATE.run_open_loop(self.client)
        raise StopUser()


if LOAD.get("user_class"):
    from locustfiles.userclass import RequestRecorder, harness_classes

    STATE.recorder = RequestRecorder(STATE)
    events.request.add_listener(STATE.recorder.on_request)
    events.user_error.add_listener(STATE.recorder.on_user_error)
    HarnessClosedUser, HarnessOpenUser = harness_classes(
        LOAD["user_class"], STATE, int(LOAD["max_in_flight"]), OwnTarget
    )
