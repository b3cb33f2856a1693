"""Line charts as inline SVG, drawn in Python: the report needs no JavaScript and no network.

Every chart shares the run's time axis (seconds since the run started) and carries
the same marks: phases as shaded bands, chaos events as numbered vertical lines.
"""

from __future__ import annotations

import math
from html import escape

from harness.report.chart_series import PALETTE, Band, Bound, Chart, Marker, Series

WIDTH = 960
PLOT_HEIGHT = 170
LEFT, RIGHT, BOTTOM = 58, 16, 34
BAND_ROW = 13  # height of one row of phase labels above the plot
MARKER_COLOR = "#d62728"
LABEL_CHAR_PX = 6.2  # width of one character of a phase label, roughly
MIN_BAND_PX = 3.0  # narrower phases are left to the phase table


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^n steps)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


class _Frame:
    """Maps data coordinates to pixels for one chart."""

    def __init__(self, *, x_min: float, x_max: float, y_max: float, top: float):
        self.x_min = x_min
        self.x_max = max(x_max, x_min + 1e-9)
        self.y_max = max(y_max, 1e-9)
        self.top = top
        self.plot_w = WIDTH - LEFT - RIGHT

    def x(self, t: float) -> float:
        clamped = max(self.x_min, min(t, self.x_max))
        return LEFT + (clamped - self.x_min) / (self.x_max - self.x_min) * self.plot_w

    def visible(self, points: list[tuple[float, float]], hold: bool) -> list[tuple[float, float]]:
        """Points inside the x range; a held state (step) enters from the left edge."""
        inside = [(t, v) for t, v in points if self.x_min <= t <= self.x_max]
        before = [(t, v) for t, v in points if t < self.x_min]
        if hold and before:
            inside.insert(0, (self.x_min, before[-1][1]))
        return inside

    def y(self, value: float) -> float:
        return self.top + PLOT_HEIGHT - max(0.0, min(value, self.y_max)) / self.y_max * PLOT_HEIGHT


def _points(frame: _Frame, series: Series) -> list[tuple[float, float]]:
    points = frame.visible(series.points, hold=series.step)
    if not series.step:
        return points
    out: list[tuple[float, float]] = []
    for t, value in points:
        if out:
            out.append((t, out[-1][1]))  # hold the previous state until this sample
        out.append((t, value))
    return out


def _band_rows(frame: _Frame, bands: list[Band]) -> dict[str, int]:
    """Stack phase labels on rows so that neither bands nor their labels overlap."""
    rows: dict[str, int] = {}
    row_ends: list[float] = []  # pixel where each row is free again
    for band in bands:
        x0, x1 = frame.x(band.start), frame.x(band.end)
        taken_until = max(x1, x0 + LABEL_CHAR_PX * len(band.name) + 8)
        for row, end in enumerate(row_ends):
            if x0 >= end:
                row_ends[row] = taken_until
                rows[band.name] = row
                break
        else:
            rows[band.name] = len(row_ends)
            row_ends.append(taken_until)
    return rows


def render_chart(chart: Chart, x_start: float, x_end: float, bands: list[Band], markers: list[Marker]) -> str:
    """One chart over [x_start, x_end] seconds since the run started."""
    probe = _Frame(x_min=x_start, x_max=x_end, y_max=1.0, top=0.0)
    bands = [b for b in bands if b.end > x_start and probe.x(b.end) - probe.x(b.start) >= MIN_BAND_PX]
    markers = [m for m in markers if x_start <= m.t <= x_end]
    rows = _band_rows(probe, bands)
    top = 6 + BAND_ROW * (max(rows.values(), default=-1) + 1) + (12 if markers else 0)
    y_values = [v for s in chart.series for t, v in s.points if x_start <= t <= x_end]
    y_values += [b.value for b in chart.bounds if b.value is not None]  # a bound stays in view
    y_ticks = nice_ticks(0.0, max(y_values, default=1.0) or 1.0, 4)
    frame = _Frame(x_min=x_start, x_max=x_end, y_max=y_ticks[-1], top=top)
    height = top + PLOT_HEIGHT + BOTTOM
    parts = [
        f'<svg class="chart" data-chart="{escape(chart.key)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(chart.title)}">'
    ]
    parts += _draw_bands(frame, bands, rows)
    parts += _draw_axes(frame, y_ticks, chart.unit)
    if not chart.has_data:
        parts.append(
            f'<text class="nodata" x="{LEFT + frame.plot_w / 2:.1f}" y="{top + PLOT_HEIGHT / 2:.1f}" '
            'text-anchor="middle">no data recorded</text>'
        )
    for series in chart.series:
        parts += _draw_series(frame, series)
    parts += _draw_bounds(frame, chart.bounds)
    parts += _draw_markers(frame, markers)
    parts.append("</svg>")
    return "".join(parts)


def _draw_bands(frame: _Frame, bands: list[Band], rows: dict[str, int]) -> list[str]:
    out = []
    for index, band in enumerate(bands):
        color = PALETTE[index % len(PALETTE)]
        x0, x1 = frame.x(band.start), frame.x(band.end)
        label_y = 6 + BAND_ROW * rows[band.name] + 9
        title = f"<title>{escape(band.name)}: {band.start:.1f}s to {band.end:.1f}s</title>"
        out.append(
            f'<g class="band" data-name="{escape(band.name)}">{title}'
            f'<rect x="{x0:.1f}" y="{frame.top}" width="{max(1.0, x1 - x0):.1f}" height="{PLOT_HEIGHT}" '
            f'fill="{color}" fill-opacity="0.08"/>'
            f'<line x1="{x0:.1f}" y1="{label_y - 9}" x2="{x0:.1f}" y2="{frame.top + PLOT_HEIGHT}" '
            f'stroke="{color}" stroke-opacity="0.5"/>'
            f'<text x="{x0 + 3:.1f}" y="{label_y}" fill="{color}" class="bandlabel">{escape(band.name)}</text></g>'
        )
    return out


def _draw_axes(frame: _Frame, y_ticks: list[float], unit: str) -> list[str]:
    out = []
    bottom = frame.top + PLOT_HEIGHT
    for value in y_ticks:
        y = frame.y(value)
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
    for t in nice_ticks(frame.x_min, frame.x_max, 10):
        if not frame.x_min - 1e-9 <= t <= frame.x_max + 1e-9:
            continue
        x = frame.x(t)
        out.append(f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{_fmt(t)}s</text>')
    out.append(f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" y1="{frame.top}" x2="{LEFT}" y2="{bottom}"/>')
    out.append(
        f'<text class="unit" x="14" y="{frame.top + PLOT_HEIGHT / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {frame.top + PLOT_HEIGHT / 2:.1f})">{escape(unit)}</text>'
    )
    out.append(
        f'<text class="unit" x="{WIDTH - RIGHT}" y="{bottom + 30}" text-anchor="end">seconds since run start</text>'
    )
    return out


def _draw_series(frame: _Frame, series: Series) -> list[str]:
    points = _points(frame, series)
    if not points:
        return []
    extra = ' stroke-dasharray="6 4"' if series.dashed else ""
    width = "1.8"
    if series.halo:
        width, extra = "7", ' stroke-opacity="0.28" stroke-linecap="round"'
    title = f"<title>{escape(series.label)}</title>"
    if len(points) == 1:
        t, value = points[0]
        return [
            f'<circle class="series" data-series="{escape(series.label)}" cx="{frame.x(t):.1f}" '
            f'cy="{frame.y(value):.1f}" r="3" fill="{series.color}">{title}</circle>'
        ]
    coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in points)
    return [
        f'<polyline class="series" data-series="{escape(series.label)}" points="{coords}" fill="none" '
        f'stroke="{series.color}" stroke-width="{width}" stroke-linejoin="round"{extra}>{title}</polyline>'
    ]


def _draw_bounds(frame: _Frame, bounds: list[Bound]) -> list[str]:
    """Each SLO over its window: a dashed line at its bound, or a bracket over the window
    when the bound is not in the chart's unit; green when it passed, red when it failed."""
    out = []
    for index, bound in enumerate(bounds):
        x0, x1 = frame.x(bound.start), frame.x(bound.end)
        color = "#2ca02c" if bound.passed else "#d62728"
        y = frame.y(bound.value) if bound.value is not None else frame.top + 4 + 11 * index
        label_y = y - 3 if bound.value is not None else y - 2
        title = f"<title>SLO {escape(bound.label)}: {bound.start:.1f}s to {bound.end:.1f}s</title>"
        out.append(
            f'<g class="slo" data-value="{"" if bound.value is None else f"{bound.value:g}"}">{title}'
            f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="1.6" '
            f'stroke-dasharray="8 3"/>'
            f'<line x1="{x0:.1f}" y1="{y - 4:.1f}" x2="{x0:.1f}" y2="{y + 4:.1f}" stroke="{color}"/>'
            f'<line x1="{x1:.1f}" y1="{y - 4:.1f}" x2="{x1:.1f}" y2="{y + 4:.1f}" stroke="{color}"/>'
            f'<text x="{x0 + 4:.1f}" y="{label_y:.1f}" fill="{color}" class="slolabel">{escape(bound.label)}</text></g>'
        )
    return out


def _draw_markers(frame: _Frame, markers: list[Marker]) -> list[str]:
    out = []
    for marker in markers:
        x = frame.x(marker.t)
        y = frame.top - 7
        out.append(
            f'<g class="marker" data-kind="{escape(marker.kind)}"><title>#{marker.number} at '
            f'{marker.t:.1f}s: {escape(marker.label)}</title>'
            f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" y2="{frame.top + PLOT_HEIGHT}" '
            f'stroke="{MARKER_COLOR}" stroke-width="1.2" stroke-dasharray="3 3"/>'
            f'<circle cx="{x:.1f}" cy="{y}" r="6.5" fill="{MARKER_COLOR}"/>'
            f'<text x="{x:.1f}" y="{y + 3.5}" text-anchor="middle" class="markernum">{marker.number}</text></g>'
        )
    return out


def legend(chart: Chart) -> str:
    """The chart's legend as HTML (kept out of the SVG so it wraps)."""
    items = []
    for series in chart.series:
        if not series.points:
            continue
        style = "halo" if series.halo else ("dashed" if series.dashed else "solid")
        items.append(
            f'<span class="key"><span class="swatch {style}" style="border-color:{series.color}"></span>'
            f"{escape(series.label)}</span>"
        )
    return f'<div class="legend">{"".join(items)}</div>'
