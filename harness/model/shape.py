"""Load shapes as pure functions of (shape, seed): the windows and levels a `load.shape`
section lays out on [0, duration).

Stdlib only: the harness (validation, planned requests) and the load process
(locustfiles) read the same profile.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.seed import stream

LevelFn = Callable[[float], float]


@dataclass(frozen=True, kw_only=True)
class Piece:
    start: float
    end: float
    level: LevelFn  # of the time since the load started, in seconds
    name: str | None = None
    spawn_rate: float | None = None


@dataclass(frozen=True)
class ShapeWindow:
    name: str
    start: float
    end: float


class Profile:
    """A shape laid out on [0, duration): the level at any time and the named windows."""

    def __init__(self, pieces: list[Piece], duration_s: float):
        self.duration_s = duration_s
        self.pieces = [p for p in pieces if p.end > p.start and p.start < duration_s]
        self.pieces = [_clip(p, duration_s) for p in self.pieces]
        self._starts = [p.start for p in self.pieces]

    def piece_at(self, t: float) -> Piece | None:
        if not self.pieces or t < 0 or t >= self.duration_s:
            return None
        return self.pieces[max(0, bisect.bisect_right(self._starts, t) - 1)]

    def level(self, t: float) -> float:
        piece = self.piece_at(t)
        return 0.0 if piece is None else max(0.0, piece.level(t))

    def windows(self) -> list[ShapeWindow]:
        """Named windows in time order; neighbouring pieces with one name form one window."""
        out: list[ShapeWindow] = []
        for piece in self.pieces:
            if piece.name is None:
                continue
            if out and out[-1].name == piece.name and math.isclose(out[-1].end, piece.start):
                out[-1] = ShapeWindow(piece.name, out[-1].start, piece.end)
            else:
                out.append(ShapeWindow(piece.name, piece.start, piece.end))
        return out


def _clip(piece: Piece, duration_s: float) -> Piece:
    if piece.end <= duration_s:
        return piece
    return Piece(start=piece.start, end=duration_s, level=piece.level, name=piece.name, spawn_rate=piece.spawn_rate)


def _const(value: float) -> LevelFn:
    return lambda _t: value


def build_profile(shape: dict[str, Any], base_level: float, duration_s: float, seed: int) -> Profile:
    """The Profile of a resolved `load.shape` section (harness.model.load_spec) over duration_s."""
    kind = shape.get("kind", "constant")
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown load shape {kind!r}")
    return Profile(builder(shape, base_level, duration_s, seed), duration_s)


def _constant(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    return [Piece(start=0.0, end=duration, level=_const(base))]


def _stages(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    pieces, t = [], 0.0
    for index, stage in enumerate(shape["stages"]):
        level = stage.get("users") if stage.get("users") is not None else stage.get("rate")
        name = stage.get("name") or f"stage-{index + 1}"
        pieces.append(Piece(start=t, end=t + stage["duration_s"], level=_const(float(level)), name=name, spawn_rate=stage.get("spawn_rate")))
        t += stage["duration_s"]
    last = pieces[-1]
    if t < duration:  # the last stage holds until the load ends
        pieces[-1] = Piece(start=last.start, end=duration, level=last.level, name=last.name, spawn_rate=last.spawn_rate)
    return pieces


def _burst(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    baseline, peak, spawn = float(shape["baseline"]), float(shape["peak"]), shape.get("spawn_rate")
    every = shape.get("every_s") or 0.0
    pieces = [Piece(start=0.0, end=shape["start_s"], level=_const(baseline), name="baseline", spawn_rate=spawn)]
    for k in range(shape.get("count", 1)):
        start = shape["start_s"] + k * every
        end = start + shape["burst_s"]
        after = start + every if k + 1 < shape.get("count", 1) else max(duration, end)
        pieces.append(Piece(start=start, end=end, level=_const(peak), name=f"burst-{k + 1}", spawn_rate=spawn))
        pieces.append(Piece(start=end, end=after, level=_const(baseline), name=f"recovery-{k + 1}", spawn_rate=spawn))
    return pieces


def _ramp(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    low, high, span = float(shape["from"]), float(shape["to"]), float(shape["ramp_s"])
    spawn = shape.get("spawn_rate")
    return [
        Piece(start=0.0, end=span, level=lambda t: low + (high - low) * min(1.0, t / span), name="ramp", spawn_rate=spawn),
        Piece(start=span, end=max(duration, span), level=_const(high), name="hold", spawn_rate=spawn),
    ]


def _sine(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    mean, amp, period = float(shape["mean"]), float(shape["amplitude"]), float(shape["period_s"])
    noise_sd, every = float(shape.get("noise", 0)), float(shape.get("noise_every_s", 1))
    rng = stream(seed, "load.shape.noise")
    noise = [rng.gauss(0.0, noise_sd) if noise_sd else 0.0 for _ in range(int(duration / every) + 2)]
    # Tabulated on a fine grid so that `rising_only` (a running maximum) stays O(1) per lookup.
    step = max(0.01, duration / 200_000)
    table, top = [], -math.inf
    for i in range(int(duration / step) + 2):
        t = i * step
        value = mean + amp * math.sin(2 * math.pi * t / period) + noise[min(int(t / every), len(noise) - 1)]
        if shape.get("rising_only"):
            top = max(top, value)
            value = top
        table.append(value)

    def level(t: float) -> float:
        return table[min(int(t / step), len(table) - 1)]

    cycles = max(1, math.ceil(duration / period))
    return [
        Piece(start=k * period, end=(k + 1) * period, level=level, name=f"cycle-{k + 1}", spawn_rate=shape.get("spawn_rate"))
        for k in range(cycles)
    ]


def _trace(shape: dict[str, Any], base: float, duration: float, seed: int) -> list[Piece]:
    points, scale = shape["points"], float(shape.get("scale", 1))
    pieces = []
    if points[0]["offset_s"] > 0:
        pieces.append(Piece(start=0.0, end=points[0]["offset_s"], level=_const(0.0)))
    for index, point in enumerate(points):
        end = points[index + 1]["offset_s"] if index + 1 < len(points) else max(duration, point["offset_s"])
        level = float(point["level"]) * scale
        pieces.append(Piece(start=point["offset_s"], end=end, level=_const(level), name=point.get("name"), spawn_rate=shape.get("spawn_rate")))
    return pieces


_BUILDERS: dict[str, Callable[[dict[str, Any], float, float, int], list[Piece]]] = {
    "constant": _constant, "stages": _stages, "burst": _burst,
    "ramp": _ramp, "sine": _sine, "trace": _trace,
}
