"""The scenario's `load` section: model (closed or open), shape, client behaviour.

Levels in a shape are users in the closed model and requests per second in the
open model. The resolved section is handed to the load process as JSON (a trace
CSV is read here, once, into `points`), so the load process never re-validates.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Level = Annotated[float, Field(ge=0, le=1_000_000)]
WindowName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# Windows the harness itself writes: a shape may not reuse their names.
RESERVED_WINDOWS = frozenset({"run", "load", "after_load", "cooldown", "cluster_start", "app_deploy"})
MAX_USERS = 10_000


RequestName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Status = Annotated[int, Field(ge=100, le=599)]


class RequestSpec(BaseModel):
    # strict: `weight: yes` or `weight: "2"` is a mistake, not 1 or 2.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: RequestName
    weight: Annotated[float, Field(gt=0, le=1_000_000)] = 1
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    app: str | None = Field(default=None, min_length=1)
    path: str = Field(default="/", pattern=r"^/", max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None  # any JSON value, sent as is
    body_template: dict[str, Any] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None  # default: load.request_timeout_s
    expect_status: Status | list[Status] | None = None

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.body is not None and self.body_template is not None:
            raise ValueError("expected body or body_template, not both")
        return self


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True, strict=True)


class RetrySpec(_Model):
    """Retries as a production client makes them: exponential backoff with seeded jitter."""

    attempts: Annotated[int, Field(ge=1, le=10)] = 1  # 1: no retries
    on_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=lambda: [500, 502, 503, 504])
    on_conn_error: bool = True
    on_timeout: bool = True
    backoff_ms: NonNegFloat = 50  # before the 2nd attempt
    multiplier: Annotated[float, Field(ge=1, le=10)] = 2
    max_backoff_ms: NonNegFloat = 2000
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2  # each backoff shrinks by up to this fraction


class ConstantShape(_Model):
    kind: Literal["constant"] = "constant"


class Stage(_Model):
    duration_s: PosFloat
    users: Annotated[int, Field(ge=0, le=MAX_USERS)] | None = None
    rate: Level | None = None
    spawn_rate: PosFloat | None = None
    name: WindowName | None = None


class StagesShape(_Model):
    """Ray Serve's release tests: (duration, users, spawn rate) stages, or rates."""

    kind: Literal["stages"]
    stages: list[Stage] = Field(min_length=1, max_length=1000)


class BurstShape(_Model):
    """Baseline, then `peak` for `burst_s` seconds from `start_s`, `count` times, every `every_s`."""

    kind: Literal["burst"]
    baseline: Level
    peak: Level
    start_s: NonNegFloat
    burst_s: PosFloat
    every_s: PosFloat | None = None
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    spawn_rate: PosFloat | None = None

    @model_validator(mode="after")
    def _period_fits(self) -> BurstShape:
        if self.count > 1 and (self.every_s is None or self.every_s <= self.burst_s):
            raise ValueError("expected every_s > burst_s when count > 1")
        return self


class RampShape(_Model):
    """From `from` to `to` over `ramp_s` seconds, then hold `to`."""

    kind: Literal["ramp"]
    from_: Level = Field(alias="from")
    to: Level
    ramp_s: PosFloat
    spawn_rate: PosFloat | None = None


class SineShape(_Model):
    """mean + amplitude*sin(2*pi*t/period) + gaussian noise redrawn every noise_every_s."""

    kind: Literal["sine"]
    mean: Level
    amplitude: Level
    period_s: PosFloat
    noise: NonNegFloat = 0  # standard deviation, in the level's unit
    noise_every_s: PosFloat = 1
    rising_only: bool = False  # the level never falls (a morning rise)
    spawn_rate: PosFloat | None = None


class TracePoint(_Model):
    offset_s: NonNegFloat
    level: Level
    name: WindowName | None = None


class TraceShape(_Model):
    """Replay of (offset, level[, window]) rows: each level holds until the next offset."""

    kind: Literal["trace"]
    csv: str | None = None  # relative paths resolve against the scenario file's folder
    points: list[TracePoint] | None = Field(default=None, max_length=1_000_000)
    scale: PosFloat = 1  # multiplies every level
    spawn_rate: PosFloat | None = None
    _resolved: list[TracePoint] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> TraceShape:
        if (self.csv is None) == (self.points is None):
            raise ValueError("expected exactly one of csv or points")
        self._resolved = read_trace_csv(Path(self.csv)) if self.csv is not None else list(self.points or [])
        offsets = [p.offset_s for p in self._resolved]
        if not offsets:
            raise ValueError("expected at least one trace point")
        if offsets != sorted(offsets):
            raise ValueError("expected trace offsets in increasing order")
        return self

    def resolved_points(self) -> list[TracePoint]:
        """The trace's rows, read from the CSV when it names one."""
        return list(self._resolved)


Shape = Annotated[
    ConstantShape | StagesShape | BurstShape | RampShape | SineShape | TraceShape,
    Field(discriminator="kind"),
]


def read_trace_csv(path: Path) -> list[TracePoint]:
    """Rows of `offset_s,level[,window]`; a header row and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"expected a readable trace CSV at {path} ({exc})") from None
    points: list[TracePoint] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        try:
            offset, level = float(cells[0]), float(cells[1])
        except (ValueError, IndexError):
            if not points and number == 1:
                continue  # header
            raise ValueError(f"expected 'offset_s,level[,window]' numbers in {path} line {number}") from None
        name = cells[2] if len(cells) > 2 and cells[2] else None
        try:
            points.append(TracePoint(offset_s=offset, level=level, name=name))
        except ValueError as exc:
            raise ValueError(f"expected a valid row in {path} line {number} ({exc.errors()[0]['msg']})") from None
    return points


def shape_window_names(shape: BaseModel) -> list[str]:
    """Names the author gave a shape's windows; neighbouring rows of one name are one window."""
    if isinstance(shape, StagesShape):
        names = [s.name for s in shape.stages]
    elif isinstance(shape, TraceShape):
        names = [p.name for p in shape.resolved_points()]
    else:
        return []
    collapsed = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    return [n for n in collapsed if n]


def shape_peak(shape: BaseModel) -> float:
    """The highest level a shape asks for (noise aside)."""
    if isinstance(shape, BurstShape):
        return max(shape.baseline, shape.peak)
    if isinstance(shape, RampShape):
        return max(shape.from_, shape.to)
    if isinstance(shape, SineShape):
        return shape.mean + shape.amplitude
    if isinstance(shape, TraceShape):
        return max(p.level for p in shape.resolved_points()) * shape.scale
    return 0.0  # constant and stages are bounded by their own fields


class LoadSpec(_Model):
    """How load is offered: closed (users + wait) or open (arrivals at a target rate)."""

    model: Literal["closed", "open"] = "closed"
    # closed model: the constant shape's users, and each user's wait between requests
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = 2
    spawn_rate: PosFloat = 10
    wait_ms: NonNegFloat = 0
    # open model: the constant shape's rate and the arrival process
    rate: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    arrivals: Literal["poisson", "uniform"] = "poisson"
    # A send is dropped (never made) when max_in_flight requests are outstanding or the
    # generator is more than max_lag_ms behind its schedule; more than max_dropped drops
    # make the run's load invalid (an infrastructure error, not a verdict).
    max_in_flight: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_lag_ms: PosFloat = 200
    max_dropped: Annotated[int, Field(ge=0)] = 0
    shape: Shape = Field(default_factory=ConstantShape)
    workers: Annotated[int, Field(ge=1, le=32)] = 1  # >1: a Locust master and this many workers
    # Where workers run (harness.load.cluster_workers): `local` processes on this machine, or `cluster`:
    # each worker the child of a 0-CPU Ray actor on its own node (master stays here).
    placement: Literal["local", "cluster"] = "local"
    # placement cluster: only nodes offering this custom resource take a worker
    node_resource: str | None = Field(default=None, min_length=1, max_length=100)
    # placement cluster: each worker sends to its own node's Serve proxy, or all to the head's
    target: Literal["node_proxy", "head"] = "node_proxy"
    # placement cluster: a worker lost mid-run (its node died) invalidates the load, or the run goes on
    on_worker_loss: Literal["fail", "continue"] = "fail"
    path: str = Field(default="/", pattern=r"^/")
    method: Literal["GET", "POST"] = "GET"
    request_timeout_s: PosFloat = 10
    retry: RetrySpec = Field(default_factory=RetrySpec)
    start_timeout_s: PosFloat = 30
    # A weighted mix of named requests (harness.load.traffic), or the user's own Locust class.
    requests: list[RequestSpec] | None = Field(default=None, min_length=1, max_length=1000)
    user_class: str | None = Field(default=None, min_length=3, max_length=300)

    @model_validator(mode="after")
    def _levels_match_model(self) -> LoadSpec:
        if self.model == "closed" and self.rate is not None:
            raise ValueError("expected load.model: open with load.rate (the closed model takes users)")
        if self.model == "open" and isinstance(self.shape, ConstantShape) and self.rate is None:
            raise ValueError("expected load.rate (requests per second) for the open model")
        if isinstance(self.shape, StagesShape):
            wanted, other = ("users", "rate") if self.model == "closed" else ("rate", "users")
            for index, stage in enumerate(self.shape.stages):
                if getattr(stage, wanted) is None or getattr(stage, other) is not None:
                    raise ValueError(
                        f"expected shape.stages.{index} to give {wanted} (not {other}) "
                        f"in the {self.model} model"
                    )
        if self.model == "closed" and shape_peak(self.shape) > MAX_USERS:
            raise ValueError(f"expected at most {MAX_USERS} users at the shape's peak, got {shape_peak(self.shape):g}")
        if self.placement == "local":
            # Non-defaults only: a resolved scenario (scenario.yaml) writes every key back.
            given = [k for k, default in (("node_resource", None), ("target", "node_proxy"),
                                          ("on_worker_loss", "fail")) if getattr(self, k) != default]
            if given:
                raise ValueError(f"expected load.placement: cluster with load.{given[0]} (local workers "
                                 f"run on this machine)")
        names = shape_window_names(self.shape)
        clash = sorted(RESERVED_WINDOWS.intersection(names))
        if clash:
            raise ValueError(f"expected window names other than the harness's own ({', '.join(clash)})")
        if len(set(names)) != len(names):
            raise ValueError(f"expected each window name once (or on neighbouring rows), got {names}")
        return self

    @property
    def base_level(self) -> float:
        """The constant shape's level: users or requests per second."""
        return float(self.rate if self.model == "open" and self.rate is not None else self.users)

    def resolved(self) -> dict[str, Any]:
        """The section as plain data for the load process, trace rows included."""
        data = self.model_dump(mode="json", by_alias=True)
        if isinstance(self.shape, TraceShape):
            data["shape"]["points"] = [p.model_dump(mode="json") for p in self.shape.resolved_points()]
            data["shape"]["csv"] = None
        return data


def _past(end: float, duration_s: float) -> bool:
    return end > duration_s + 1e-9


def shape_problems(load: LoadSpec, duration_s: float) -> list[tuple[str, str]]:
    """A shape that runs past `duration_s` or starts after it, as (key path, message): the
    load process would cut it there, and the peak the scenario exists for would never run."""
    shape, d = load.shape, duration_s
    if isinstance(shape, StagesShape):
        t = 0.0
        for index, stage in enumerate(shape.stages):
            t += stage.duration_s
            if _past(t, d):
                total = sum(s.duration_s for s in shape.stages)
                return [(f"load.shape.stages.{index}.duration_s", (
                    f"expected stages that fit in duration_s ({d:g} s): they add up to {total:g} s, "
                    f"{total - d:g} s past the end (stage {index + 1} of {len(shape.stages)} would be cut); "
                    f"shorten the stages or set duration_s: {total:g}"
                ))]
    elif isinstance(shape, BurstShape):
        last = shape.count - 1
        start = shape.start_s + last * (shape.every_s or 0.0)
        end = start + shape.burst_s
        if shape.start_s >= d:
            return [("load.shape.start_s", (
                f"expected a burst that starts before duration_s ({d:g} s), got start_s {shape.start_s:g} "
                f"({shape.start_s - d:g} s after the load ends): lower start_s or set duration_s above {end:g}"
            ))]
        if _past(end, d):
            fit = sum(1 for k in range(shape.count)
                      if not _past(shape.start_s + k * (shape.every_s or 0.0) + shape.burst_s, d))
            key, change = ("load.shape.count", f"set count: {fit}") if fit else ("load.shape.burst_s", "shorten it")
            return [(key, (
                f"expected every burst to end by duration_s ({d:g} s): burst {shape.count} of {shape.count} "
                f"ends at {end:g} s, {end - d:g} s past the end; {change}, or set duration_s: {end:g}"
            ))]
    elif isinstance(shape, RampShape):
        if _past(shape.ramp_s, d):
            return [("load.shape.ramp_s", (
                f"expected ramp_s at most duration_s ({d:g} s), got {shape.ramp_s:g} ({shape.ramp_s - d:g} s "
                f"past the end: the ramp would never reach {shape.to:g}); shorten ramp_s or set duration_s: "
                f"{shape.ramp_s:g}"
            ))]
    elif isinstance(shape, TraceShape):
        for index, point in enumerate(shape.resolved_points()):
            if point.offset_s >= d:
                key = f"load.shape.points.{index}.offset_s" if shape.points is not None else "load.shape.csv"
                row = "" if shape.points is not None else f" (row {index + 1} of {shape.csv})"
                return [(key, (
                    f"expected trace offsets before duration_s ({d:g} s), got {point.offset_s:g}{row}, "
                    f"{point.offset_s - d:g} s past the end; drop the rows from {d:g} s on or set duration_s "
                    f"above {shape.resolved_points()[-1].offset_s:g}"
                ))]
    return []
