"""Charts drawn as inline SVG on the server: no script, nothing to download, and the page
reads the same with JavaScript off. Pure functions from numbers to markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

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


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "", width: int = 640,
    height: int = 220,
) -> str:  # fmt: skip
    """Bars per label (e.g. per day), stacked by series (e.g. per model), with a legend."""
    left, bottom, top = 56, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = _nice_max(max(totals, default=0.0))
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 18 * ((len(series) + 3) // 4)}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):  # grid and axis labels
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#667">'
            f"{escape(_short(peak * i / 4, unit))}</text>"
        )
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
        if n <= 16 or i % max(1, n // 8) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10" '
                f'fill="#667">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    for j, s in enumerate(series):  # legend, four to a row
        lx, ly = left + (j % 4) * ((width - left) / 4), height + 4 + 18 * (j // 4)
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
        )
        parts.append(
            f'<text x="{lx + 14:.1f}" y="{ly + 9}" font-size="11" fill="#334">{escape(s.name[:28])}</text>'
        )
    if not labels:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#889">No usage yet</text>'
        )
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
