"""Line charts as inline SVG, drawn in Python: the report needs no JavaScript and no network.

Every chart shares the run's time axis (seconds since the run started) and carries
the same marks: phases as shaded bands, chaos events as numbered vertical lines.
"""

from __future__ import annotations

import math
from html import escape

from harness.report.series import PALETTE, Band, Chart, Marker, Series

WIDTH = 960
PLOT_HEIGHT = 170
LEFT, RIGHT, BOTTOM = 58, 16, 34
BAND_ROW = 13  # height of one row of phase labels above the plot
MARKER_COLOR = "#d62728"


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

    def __init__(self, duration: float, y_max: float, top: float):
        self.x_max = max(duration, 1e-9)
        self.y_max = max(y_max, 1e-9)
        self.top = top
        self.plot_w = WIDTH - LEFT - RIGHT

    def x(self, t: float) -> float:
        return LEFT + max(0.0, min(t, self.x_max)) / self.x_max * self.plot_w

    def y(self, value: float) -> float:
        return self.top + PLOT_HEIGHT - max(0.0, min(value, self.y_max)) / self.y_max * PLOT_HEIGHT


def _points(series: Series) -> list[tuple[float, float]]:
    if not series.step:
        return series.points
    out: list[tuple[float, float]] = []
    for t, value in series.points:
        if out:
            out.append((t, out[-1][1]))  # hold the previous state until this sample
        out.append((t, value))
    return out


def _band_rows(bands: list[Band]) -> dict[str, int]:
    """Stack overlapping phase labels on separate rows."""
    rows: dict[str, int] = {}
    row_ends: list[float] = []
    for band in bands:
        for row, end in enumerate(row_ends):
            if band.start >= end:
                row_ends[row] = band.end
                rows[band.name] = row
                break
        else:
            rows[band.name] = len(row_ends)
            row_ends.append(band.end)
    return rows


def render_chart(chart: Chart, duration: float, bands: list[Band], markers: list[Marker]) -> str:
    rows = _band_rows(bands)
    top = 6 + BAND_ROW * (max(rows.values(), default=-1) + 1) + (12 if markers else 0)
    y_values = [v for s in chart.series for _, v in s.points]
    y_ticks = nice_ticks(0.0, max(y_values, default=1.0) or 1.0, 4)
    frame = _Frame(duration, y_ticks[-1], top)
    height = top + PLOT_HEIGHT + BOTTOM
    parts = [
        f'<svg class="chart" data-chart="{escape(chart.key)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(chart.title)}">'
    ]
    parts += _draw_bands(frame, bands, rows)
    parts += _draw_axes(frame, y_ticks, duration, chart.unit)
    if not chart.has_data:
        parts.append(
            f'<text class="nodata" x="{LEFT + frame.plot_w / 2:.1f}" y="{top + PLOT_HEIGHT / 2:.1f}" '
            'text-anchor="middle">no data recorded</text>'
        )
    for series in chart.series:
        parts += _draw_series(frame, series)
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


def _draw_axes(frame: _Frame, y_ticks: list[float], duration: float, unit: str) -> list[str]:
    out = []
    bottom = frame.top + PLOT_HEIGHT
    for value in y_ticks:
        y = frame.y(value)
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
    for t in nice_ticks(0.0, max(duration, 1.0), 10):
        if t > duration + 1e-9:
            break
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
    points = _points(series)
    if not points:
        return []
    dash = ' stroke-dasharray="6 4"' if series.dashed else ""
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
        f'stroke="{series.color}" stroke-width="1.8" stroke-linejoin="round"{dash}>{title}</polyline>'
    ]


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
        style = "dashed" if series.dashed else "solid"
        items.append(
            f'<span class="key"><span class="swatch {style}" style="border-color:{series.color}"></span>'
            f"{escape(series.label)}</span>"
        )
    return f'<div class="legend">{"".join(items)}</div>'
