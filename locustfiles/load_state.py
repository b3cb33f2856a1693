"""One load process's state: its role, its stream, the shape's clock and its report.

Roles: `standalone` (one process does everything), `master` (runs the shape and
writes the windows, sends nothing) and `worker` (sends; its own stream
requests-w<k>.jsonl). All processes of a run share one origin, the wall-clock time
at which the load (and its first window) starts; a master picks it and tells its
workers with a custom Locust message.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent

from harness.measure.records import LoadReport, Phase
from harness.model.shape import Profile, build_profile
from locustfiles.client import Caller, LoadTally
from locustfiles.openloop import OpenLoop
from locustfiles.policy import RetryPolicy
from locustfiles.request_mix import RequestMix
from locustfiles.schedule import worker_streams
from locustfiles.stream_writer import RecordWriter

ORIGIN_MESSAGE = "harness_origin"
MASTER_LEAD_S = 0.5  # time for the origin message to reach the workers before the first send


@dataclass(frozen=True)
class Edge:
    offset: float
    name: str
    edge: str  # "start" | "end"


def window_edges(profile: Profile) -> list[Edge]:
    """The load window and the shape's windows as phase edges in time order (ends first)."""
    edges = [Edge(0.0, "load", "start"), Edge(profile.duration_s, "load", "end")]
    for window in profile.windows():
        edges += [Edge(window.start, window.name, "start"), Edge(window.end, window.name, "end")]
    return sorted(edges, key=lambda e: (e.offset, e.edge != "end", e.name != "load"))


class LoadState:
    def __init__(self, config: dict[str, Any], role: str, worker: int):
        self.config = config
        self.load: dict[str, Any] = config["load"]
        self.role = role
        self.worker = worker  # 1-based on workers, 0 elsewhere
        self.seed = int(config["seed"])
        self.duration_s = float(config["duration_s"])
        stream_file = f"requests-w{worker}.jsonl" if role == "worker" else "requests.jsonl"
        self.writer = RecordWriter(str(Path(config["timeline_dir"]) / stream_file))
        self.profile = build_profile(self.load["shape"], float(config["base_level"]), self.duration_s, self.seed)
        self.origin_wall: float | None = None
        self.origin_perf = 0.0
        self.tally = LoadTally()
        # Placement `cluster` (harness.load.cluster_workers): the worker's own target and where it runs.
        self.target: str | None = os.environ.get("HARNESS_LOAD_TARGET") or None
        extra: dict[str, Any] = {"worker": worker} if role == "worker" else {}
        if role == "worker" and os.environ.get("HARNESS_LOAD_WORKER_NODE"):
            extra["worker_node"] = os.environ["HARNESS_LOAD_WORKER_NODE"]
            extra["node"] = os.environ.get("HARNESS_LOAD_PROXY_NODE") or None
        streams = worker_streams(self.seed, worker)
        self.caller = Caller(
            writer=self.writer, policy=RetryPolicy.from_config(self.load["retry"]), mix=RequestMix(config["requests"]),
            rng=streams.retry, tally=self.tally, extra=extra, body_rng=streams.bodies, pick_rng=streams.picks,
            default_timeout_s=float(self.load["request_timeout_s"]),
        )
        self.open_loop: OpenLoop | None = None
        self.recorder: Any = None  # a user class's RequestRecorder (locustfiles.userclass)
        self._next_id = 0
        self._dispatching = False
        self._written: list[Edge] = []
        self._clock: gevent.Greenlet | None = None

    @classmethod
    def from_environment(cls) -> LoadState:
        config = json.loads(Path(os.environ["HARNESS_LOAD_CONFIG"]).read_text(encoding="utf-8"))
        return cls(config, os.environ.get("HARNESS_LOAD_ROLE", "standalone"),
                   int(os.environ.get("HARNESS_LOAD_WORKER", "0")))

    @property
    def is_open(self) -> bool:
        return self.load["model"] == "open"

    @property
    def senders(self) -> int:
        """Processes that send: the workers, or this one."""
        return int(self.load["workers"]) if int(self.load["workers"]) > 1 else 1

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- the shared origin ----------------------------------------------------

    def set_origin(self, origin_wall: float) -> None:
        if self.origin_wall is None:
            self.origin_wall = origin_wall
            self.origin_perf = time.perf_counter() + (origin_wall - time.time())

    def choose_origin(self, runner: Any) -> float:
        """On the standalone process or the master: fix the origin once and tell the workers."""
        if self.origin_wall is None:
            lead = MASTER_LEAD_S if self.role == "master" and self.is_open else 0.0
            self.set_origin(time.time() + lead)
            if self.role == "master":
                runner.send_message(ORIGIN_MESSAGE, self.origin_wall)
            self._clock = gevent.spawn(self._run_clock)
        return self.origin_wall

    def wait_origin(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.origin_wall is None and time.monotonic() < deadline:
            gevent.sleep(0.01)
        return self.origin_wall is not None

    def elapsed(self) -> float:
        return 0.0 if self.origin_wall is None else time.time() - self.origin_wall

    # -- windows --------------------------------------------------------------

    def _run_clock(self) -> None:
        for edge in window_edges(self.profile):
            gevent.sleep(max(0.0, self.origin_perf + edge.offset - time.perf_counter()))
            self._write_edge(edge, self.origin_wall + edge.offset)

    def _write_edge(self, edge: Edge, t: float) -> None:
        self.writer.write(Phase.new(t=t, name=edge.name, edge=edge.edge,
                                    source="load", shape=self.load["shape"]["kind"]))
        self._written.append(edge)

    def close_windows(self) -> None:
        """At quit: end every window still open, at the time of the quit."""
        if self._clock is not None:
            self._clock.kill(block=True)
        if self.origin_wall is None:
            return
        now = time.time()
        started = {e.name for e in self._written if e.edge == "start"}
        ended = {e.name for e in self._written if e.edge == "end"}
        for edge in window_edges(self.profile):
            if edge.edge == "end" and edge.name in started - ended:
                self._write_edge(edge, min(now, self.origin_wall + edge.offset))

    # -- the open model -------------------------------------------------------

    def run_open_loop(self, session: Any, caller: Any = None) -> None:
        """caller: a user class's TaskCaller; unset, the harness's own request mix."""
        if self._dispatching:
            return  # one dispatcher per process: a second (Locust rebalancing users) would resend its share
        self._dispatching = True
        if not self.wait_origin(float(self.load["start_timeout_s"])):
            raise RuntimeError("no load origin from the master")
        index = self.worker - 1 if self.role == "worker" else 0
        self.open_loop = OpenLoop(
            profile=self.profile, arrivals=self.load["arrivals"], seed=self.seed, caller=caller or self.caller, writer=self.writer,
            max_in_flight=int(self.load["max_in_flight"]), max_lag_s=float(self.load["max_lag_ms"]) / 1000.0,
            worker_index=index, workers=self.senders,
        )
        self.open_loop.run(session, self.origin_wall, self.origin_perf, float(self.config["drain_s"]) + 1.0)

    def report(self) -> dict[str, Any]:
        opened = self.open_loop.stats.as_dict() if self.open_loop is not None else {}
        return LoadReport.new(
            role=self.role, worker=self.worker, model=self.load["model"], requests=self.tally.requests,
            attempts=self.tally.attempts, by_outcome=dict(self.tally.by_outcome), **opened,
            records=self.writer.written,  # before this one: what the harness must have received
            cpu_s=round(time.process_time(), 3),  # this process's CPU: the generator's cost per request
        )

    def stop_now(self) -> None:
        """Stop early (fail-fast): the open loop sends nothing more."""
        if self.open_loop is not None:
            self.open_loop.stopped = True

    def close(self) -> None:
        if self.role != "worker":
            self.close_windows()
        self.writer.write(self.report())
        self.writer.close()

