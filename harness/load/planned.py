"""How many requests a load plans per window: an upper bound on what the window can hold.

Fail-fast (harness.slo.certain) needs it: an error budget or a percentile's slow
requests are "spent" only against the planned count of the whole window.

- open model: the schedule itself (locustfiles.schedule.arrival_offsets, the same
  seed and shape as the load process): exact. A dropped send is no request, so the
  window's final requests are at most this many.
- closed model with `wait_ms` > 0: each user sends at most one request per wait, so a
  window of L seconds holds at most peak users x (floor(L / wait) + 1).
- closed model without a wait, or a user class: unknown (None, and why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.model.load_spec import LoadSpec
from harness.model.shape import build_profile
from locustfiles.schedule import arrival_offsets

LOAD_WINDOWS = ("load", "run")  # every request of the run lies in both


@dataclass(frozen=True, kw_only=True)
class PlannedWindow:
    name: str
    start_s: float  # from the load's start
    end_s: float
    requests: int | None  # at most this many final requests; None: no bound known
    why: str = ""  # why there is no bound

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def planned_windows(load: LoadSpec, duration_s: float, seed: int) -> dict[str, PlannedWindow]:
    """`load`, `run` and every window of the load's shape, with their planned request counts."""
    profile = build_profile(load.resolved()["shape"], load.base_level, duration_s, seed)
    spans = [(name, 0.0, duration_s) for name in LOAD_WINDOWS]
    spans += [(w.name, w.start, w.end) for w in profile.windows()]
    if load.user_class is not None:
        why = "a user class sends as many requests as it likes"
        return {name: PlannedWindow(name=name, start_s=a, end_s=b, requests=None, why=why) for name, a, b in spans}
    if load.model == "open":
        offsets = list(arrival_offsets(profile, load.arrivals, seed))
        return {name: PlannedWindow(name=name, start_s=a, end_s=b, requests=sum(1 for t in offsets if a <= t < b))
                for name, a, b in spans}
    if load.wait_ms <= 0:
        why = "a closed model without wait_ms has no upper bound on its requests"
        return {name: PlannedWindow(name=name, start_s=a, end_s=b, requests=None, why=why) for name, a, b in spans}
    # The most users the shape asks for at any time (noise included), on a fine grid.
    steps = max(1, math.ceil(duration_s / 0.05))
    peak = max(max((profile.level(i * duration_s / steps) for i in range(steps)), default=0.0),
               float(load.users) if not profile.pieces else 0.0)
    users = max(1, math.ceil(peak - 1e-9))
    wait_s = load.wait_ms / 1000.0
    return {name: PlannedWindow(name=name, start_s=a, end_s=b, requests=users * (math.floor((b - a) / wait_s) + 1))
            for name, a, b in spans}
