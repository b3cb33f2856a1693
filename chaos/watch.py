"""Follows injected faults on one thread: has the cluster noticed yet, is the duration over?

Each fault is polled with its own exponential backoff (50 ms doubling to 1 s) until
its `noticed` says how the cluster noticed, or until the notice timeout. Faults
with a duration are cleaned up when it is over; each cleanup runs on its own thread so
a slow one (a graceful node stop) never delays another fault's polls. Each fault's
window (`fault-N`) closes when it was noticed, or for faults with a duration when
they were cleaned up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.api import Fault, FaultEnv, Injection
from chaos.plan import PlannedShot
from chaos.threads import ThreadGroup
from harness.measure.timeline import TimelineWriter

BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 1.0


@dataclass(kw_only=True)
class Active:
    shot: PlannedShot
    fault: Fault
    injection: Injection
    record: dict[str, Any]
    injected_t: float
    noticed: bool = False
    cleaned: bool = False  # cleanup done and recorded
    cleaning: bool = False  # cleanup thread started
    clean_started: bool = False
    window_open: bool = True
    wait_s: float = BACKOFF_START_S
    next_poll: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def clean_due(self) -> float:
        return self.injected_t + self.injection.duration_s

    @property
    def done(self) -> bool:
        return self.noticed and (self.cleaned or not self.injection.duration_s)


Emit = Callable[[PlannedShot, dict[str, Any]], None]


class Watcher:
    def __init__(
        self,
        *,
        env: FaultEnv,
        timeline: TimelineWriter,
        jobs: ThreadGroup,
        notice_timeout_s: float,
        emit: Emit,
        finish: Emit,
    ):
        self.env = env
        self.timeline = timeline
        self.jobs = jobs
        self.notice_timeout_s = notice_timeout_s
        self.emit = emit
        self.finish = finish
        self.active: dict[str, Active] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, active: Active) -> None:
        self.timeline.phase(active.shot.id, "start", t=active.injected_t, fault=active.shot.fault)
        with self._lock:
            self.active[active.shot.id] = active
        self._wake.set()

    def stop(self) -> None:
        """Stop following; the caller cleans up what remains()."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def remaining(self) -> list[Active]:
        with self._lock:
            return list(self.active.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            with self._lock:
                current = list(self.active.values())
            wake_at = now + BACKOFF_MAX_S
            for active in current:
                self._step(active, now)
                if active.done:
                    with self._lock:
                        self.active.pop(active.shot.id, None)
                    self.finish(active.shot, active.record)
                    continue
                if not active.noticed:
                    wake_at = min(wake_at, active.next_poll)
                if active.injection.duration_s and not active.cleaned and not active.cleaning:
                    wake_at = min(wake_at, active.clean_due)
            self._wake.wait(max(0.005, wake_at - time.time()))
            self._wake.clear()

    def _step(self, active: Active, now: float) -> None:
        record = active.record
        if not active.noticed and now >= active.next_poll:
            try:
                how = active.fault.noticed(self.env, active.injection)
            except Exception as exc:  # state polls are eventually consistent: try again
                how = None
                record["notice_errors"] = record.get("notice_errors", 0) + 1
                record["last_notice_error"] = f"{type(exc).__name__}: {exc}"[:200]
            seen = time.time()
            if how:
                active.noticed = True
                after = round(seen - active.injected_t, 3)
                record.update(noticed_t=seen, noticed_after_s=after, noticed=how)
                self.emit(active.shot, {"event": "noticed", "noticed_t": seen, "noticed_after_s": after, "noticed": how})
            elif seen >= active.clean_due + self.notice_timeout_s:
                active.noticed = True
                record["noticed"] = f"not noticed within {self.notice_timeout_s:g}s"
                self.emit(active.shot, {"event": "not_noticed", "detail": record["noticed"]})
            else:
                active.next_poll = seen + active.wait_s
                active.wait_s = min(active.wait_s * 2, BACKOFF_MAX_S)
            if active.noticed and not active.injection.duration_s:
                self.close_window(active, seen)
        if active.injection.duration_s and not active.cleaned and not active.cleaning and now >= active.clean_due:
            active.cleaning = True
            self.jobs.spawn(self._clean_then_wake, active)

    def _clean_then_wake(self, active: Active) -> None:
        self.clean(active)
        self._wake.set()

    def clean(self, active: Active, reason: str = "duration over") -> None:
        with active.lock:
            if active.clean_started:
                return
            active.clean_started = True
        record = active.record
        try:
            active.fault.cleanup(self.env, active.injection)
            record.update(cleaned_t=time.time(), cleaned=reason)
        except Exception as exc:
            record.update(cleaned_t=time.time(), cleaned=f"cleanup failed: {type(exc).__name__}: {exc}"[:300])
        record["targets"] = [{k: v for k, v in t.items() if not k.startswith("_")} for t in active.injection.targets]
        self.emit(active.shot, {"event": "cleaned", "cleaned_t": record["cleaned_t"], "cleaned": record["cleaned"]})
        self.close_window(active, record["cleaned_t"])
        active.cleaned = True  # last: the watcher finishes the shot once this is set

    def close_window(self, active: Active, t: float) -> None:
        with active.lock:
            if not active.window_open:
                return
            active.window_open = False
        self.timeline.phase(active.shot.id, "end", t=t, fault=active.shot.fault)
