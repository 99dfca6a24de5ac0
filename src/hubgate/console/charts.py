"""Charts drawn as inline SVG on the server: no script, nothing to download, and the page
reads the same with JavaScript off. Pure functions from numbers to markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from hubgate.console.i18n import _

PALETTE = ("#3b6fd8", "#e07b39", "#2a9d8f", "#c0467a", "#8a6fd1", "#7a8b2e", "#d4a72c", "#5b7083")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2, 4, 5 or 8 times a power of ten, so its quarters read cleanly."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 4.0, 5.0, 8.0):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10.0 * magnitude


FONT = 13  # user units; each drawing is shown at a size where this is 11 px or more (console.css)


@dataclass(frozen=True)
class _Frame:
    """One drawing's geometry: the wide one for a roomy box, the compact one for a phone."""

    variant: str
    width: int
    height: int
    legend_columns: int


WIDE = _Frame("wide", 640, 220, 3)
COMPACT = _Frame("compact", 340, 220, 2)


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> str:
    """Bars per label (e.g. per day), stacked by series (e.g. per model), with a legend: drawn
    twice, wide and compact, and the stylesheet shows the one that fits its box, so that text
    is never drawn below 11 px."""
    return "".join(_draw(frame, title, labels, series, unit) for frame in (WIDE, COMPACT))


def _draw(frame: _Frame, title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> str:
    width, height = frame.width, frame.height
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = _nice_max(max(totals, default=0.0))
    ticks = [_short(peak * i / 4, unit) for i in range(5)]
    left, bottom, top = max(36, 10 + round(0.6 * FONT * max(len(t) for t in ticks))), 30, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    every = max(1, math.ceil(n / max(1, plot_w // (FONT * 3.6))))  # day labels that fit side by side
    row = FONT + 9
    rows = (len(series) + frame.legend_columns - 1) // frame.legend_columns
    text = f'font-size="{FONT}" fill="#4b5565"'
    parts = [
        f'<svg class="chart {frame.variant}" viewBox="0 0 {width} {height + row * rows}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, tick in enumerate(ticks):  # grid and axis labels
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {text}>{escape(tick)}</text>')
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        base = float(top + plot_h)
        for j, s in enumerate(series):
            h = plot_h * s.values[i] / peak
            if h <= 0:
                continue
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)} · {escape(s.name)}: '
                f"{escape(_short(s.values[i], unit))}</title></rect>"
            )
        if (n - 1 - i) % every == 0:  # the latest day always has its label
            short = label[5:] if len(label) == 10 else label
            half = 0.31 * FONT * len(short)  # kept inside the drawing at both ends
            centre = min(max(x + bar / 2, half + 2), width - 2 - half)
            parts.append(
                f'<text x="{centre:.1f}" y="{top + plot_h + FONT + 5}" text-anchor="middle" {text}>'
                f"{escape(short)}</text>"
            )
    column = (width - 8) / frame.legend_columns
    fits = max(4, int((column - 20) / (0.6 * FONT)))  # characters of a name that fit its column
    for j, s in enumerate(series):  # the legend
        lx, ly = 8 + (j % frame.legend_columns) * column, height + 4 + row * (j // frame.legend_columns)
        name = s.name if len(s.name) <= fits else s.name[: fits - 1] + "…"
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="11" height="11" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{lx + 16:.1f}" y="{ly + 10}" font-size="{FONT}" fill="#1d2433">'
            f"<title>{escape(s.name)}</title>{escape(name)}</text>"
        )
    if not labels:
        empty = escape(_("No usage yet"))
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {text}>{empty}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(value: float, unit: str) -> str:
    if unit == "$":
        if value == 0:
            return "$0"
        if value < 0.01:
            return f"${value:.6f}".rstrip("0")
        return f"${value:,.2f}" if value < 1000 else f"${value / 1000:,.1f}k"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}{unit}"
    if value != int(value):
        return f"{value:.2f}".rstrip("0").rstrip(".") + unit
    return f"{value:,.0f}{unit}"
