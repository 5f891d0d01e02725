"""Charts as server-rendered SVG: no script, nothing inline for the CSP to refuse (only
presentation attributes, no ``style``), readable as an image by screen readers (``role=img``
with a ``<title>`` and a ``<desc>`` that says what the chart shows) and printable.

Each page puts the same figures in a table beside the chart and offers them as CSV, so the
chart never carries information that is not also available as text. Points outside limits
differ in shape as well as colour (WCAG 1.4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import numpy as np

from wraparound.analytics import stats

W, H = 680, 380
LEFT, RIGHT, TOP, BOTTOM = 70, 40, 20, 70
BLUE, DARK, GREY, RED, PALE, GREEN = (
    "#005eb8",
    "#212b32",
    "#4c6272",
    "#d5281b",
    "#d8e8f5",
    "#007f3b",
)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering lo..hi (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= raw)
    first = math.floor(lo / step) * step
    return [
        round(first + i * step, 10)
        for i in range(int((hi - first) / step) + 2)
        if first + (i - 1) * step < hi
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:,.{digits}f}"


@dataclass
class Frame:
    """Maps data to pixels inside the plotting area."""

    x0: float
    x1: float
    y0: float
    y1: float
    parts: list[str] = field(default_factory=list)

    def x(self, v: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return round(LEFT + (v - self.x0) / span * (W - LEFT - RIGHT), 1)

    def y(self, v: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return round(H - BOTTOM - (v - self.y0) / span * (H - TOP - BOTTOM), 1)

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def path(
        self, points: list[tuple[float, float]], colour: str, width: float = 2, dash: str = ""
    ) -> None:
        pts = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
        if len(pts) < 2:
            return
        d = "M" + " L".join(f"{self.x(x)},{self.y(y)}" for x, y in pts)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}"{extra}/>')

    def y_axis(self, label: str, digits: int = 1) -> None:
        for tick in nice_ticks(self.y0, self.y1):
            if self.y0 <= tick <= self.y1:
                y = self.y(tick)
                self.add(
                    f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}" '
                    f'stroke="#e8edee" stroke-width="1"/>'
                )
                self.add(
                    f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" '
                    f'font-size="12" fill="{DARK}">{fmt(tick, digits)}</text>'
                )
        self.add(
            f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" font-size="12" fill="{DARK}" '
            f'text-anchor="middle" transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">'
            f"{escape(label)}</text>"
        )
        self.add(
            f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" '
            f'stroke="{DARK}" stroke-width="1"/>'
        )
        self.add(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" '
            f'stroke="{DARK}" stroke-width="1"/>'
        )


def svg(
    chart_id: str, title: str, desc: str, body: list[str], legend: list[tuple[str, str]]
) -> str:
    """Wrap chart parts in an accessible SVG with a legend row along the bottom."""
    items, x = [], LEFT
    for swatch, label in legend:
        items.append(
            f'<g transform="translate({x},{H - 16})">{swatch}'
            f'<text x="16" y="4" font-size="12" fill="{DARK}">{escape(label)}</text></g>'
        )
        x += 24 + 7 * len(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" viewBox="0 0 {W} {H}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'focusable="false"><title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>'
        + "".join(body)
        + "".join(items)
        + "</svg>"
    )


def _marker(x: float, y: float, status: str, highlight: bool) -> str:
    """Circle within limits, triangle up above, triangle down below; a ring when it is the
    practice the page is about."""
    colour = RED if status in ("high", "low") else BLUE
    if status == "high":
        shape = f'<path d="M{x},{y - 7} L{x + 6},{y + 5} L{x - 6},{y + 5} Z" fill="{colour}"/>'
    elif status == "low":
        shape = f'<path d="M{x},{y + 7} L{x + 6},{y - 5} L{x - 6},{y - 5} Z" fill="{colour}"/>'
    else:
        shape = f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"/>'
    if highlight:
        shape += f'<circle cx="{x}" cy="{y}" r="10" fill="none" stroke="{DARK}" stroke-width="2"/>'
    return shape


def _limit_curves(
    kind: str, peer: float, multiplier: float, x_max: float, points: list[dict]
) -> dict[str, list[tuple[float, float]]]:
    """The funnel limits across the denominator range: computed on a grid from the peer value
    for proportions and crude rates (the same functions the indicators used), else joined
    through the limits published at each practice's denominator."""
    curves = {}
    if kind in ("proportion", "crude_rate") and peer is not None and x_max > 0:
        # From half the smallest practice: the limits of tiny denominators would flatten
        # everything else into a line.
        x_min = min((p["denominator"] for p in points), default=x_max)
        grid = np.geomspace(max(x_min / 2, x_max / 200, 1.0), x_max * 1.05, 80)
        average = peer / multiplier
        for level, suffix in zip(stats.LEVELS, ("95", "998"), strict=True):
            if kind == "proportion":
                lo, hi = stats.proportion_funnel(grid, np.full(grid.shape, average), level)
            else:
                lo, hi = stats.rate_funnel(grid, np.full(grid.shape, average), level)
            curves[f"lower{suffix}"] = list(zip(grid, lo * multiplier, strict=True))
            curves[f"upper{suffix}"] = list(zip(grid, hi * multiplier, strict=True))
        return curves
    ordered = sorted(
        (p for p in points if p.get("funnel_lower95") is not None), key=lambda p: p["denominator"]
    )
    for side in ("lower95", "upper95", "lower998", "upper998"):
        curves[side] = [
            (p["denominator"], p[f"funnel_{side}"])
            for p in ordered
            if p.get(f"funnel_{side}") is not None
        ]
    return curves


def funnel(
    chart_id: str,
    title: str,
    points: list[dict],
    peer: float | None,
    kind: str,
    multiplier: float,
    unit: str,
    x_label: str,
) -> str:
    """Practices' values against their denominators, with the peer value and 95% and 99.8%
    limits. ``points``: dicts with label, denominator, value, funnel_status, highlight and
    the published limits; the status comes from the published row, never from the curves."""
    shown = [p for p in points if p["value"] is not None and p["denominator"]]
    x_max = max((p["denominator"] for p in shown), default=1.0)
    curves = _limit_curves(kind, peer, multiplier, x_max, shown)
    ys = [p["value"] for p in shown] + [peer or 0.0]
    ys += [y for c in curves.values() for _, y in c if math.isfinite(y)]
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or 1.0
    f = Frame(0, x_max * 1.05, max(lo - pad, 0 if lo >= 0 else lo - pad), hi + pad)
    f.y_axis(unit)
    for tick in nice_ticks(0, x_max * 1.05):
        if tick <= x_max * 1.05:
            f.add(
                f'<text x="{f.x(tick)}" y="{H - BOTTOM + 18}" text-anchor="middle" '
                f'font-size="12" fill="{DARK}">{fmt(tick, 0)}</text>'
            )
    f.add(
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - BOTTOM + 38}" text-anchor="middle" '
        f'font-size="12" fill="{DARK}">{escape(x_label)}</text>'
    )
    for side, dash in (("95", "6 4"), ("998", "")):
        f.path(curves.get(f"lower{side}", []), GREY, 1.5, dash)
        f.path(curves.get(f"upper{side}", []), GREY, 1.5, dash)
    if peer is not None:
        f.path([(0, peer), (x_max * 1.05, peer)], DARK, 1.5, "2 3")
    for p in sorted(shown, key=lambda p: p["highlight"]):
        f.add(
            _marker(
                f.x(p["denominator"]), f.y(p["value"]), p["funnel_status"] or "", p["highlight"]
            )
        )
    outside = sum(p["funnel_status"] in ("high", "low") for p in shown)
    desc = (
        f"Funnel plot of {len(shown)} practices: value against {x_label.lower()}. "
        f"Peer value {fmt(peer)}; dashed lines are 95% limits, solid lines 99.8% limits. "
        f"{outside} outside the 99.8% limits."
    )
    legend = [
        (f'<circle cx="5" cy="0" r="5" fill="{BLUE}"/>', "within 99.8%"),
        (f'<path d="M5,-7 L11,5 L-1,5 Z" fill="{RED}"/>', "above"),
        (f'<path d="M5,7 L11,-5 L-1,-5 Z" fill="{RED}"/>', "below"),
        (
            f'<line x1="0" x2="12" y1="0" y2="0" stroke="{GREY}" stroke-width="2" '
            f'stroke-dasharray="6 4"/>',
            "95% limits",
        ),
        (f'<line x1="0" x2="12" y1="0" y2="0" stroke="{GREY}" stroke-width="2"/>', "99.8% limits"),
    ]
    return svg(chart_id, title, desc, f.parts, legend)


def trend(
    chart_id: str,
    title: str,
    rows: list[dict],
    unit: str,
    *,
    value: str = "value",
    lower: str | None = "lower95",
    upper: str | None = "upper95",
    peer: str | None = "peer_value",
    peer_label: str = "peer value",
    hlines: tuple[tuple[str, float, str], ...] = (),
) -> str:
    """Monthly values as a line, with the 95% interval as a band and the peer value dashed;
    ``hlines``: (label, y, colour) reference lines such as a baseline and a target."""
    rows = [r for r in rows if r.get(value) is not None]
    if not rows:
        return ""
    n = len(rows)
    ys = [r[value] for r in rows]
    for key in (lower, upper, peer):
        if key:
            ys += [r[key] for r in rows if r.get(key) is not None]
    ys += [y for _, y, _ in hlines if y is not None]
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or 1.0
    f = Frame(0, max(n - 1, 1), max(lo - pad, 0) if lo >= 0 else lo - pad, hi + pad)
    f.y_axis(unit)
    if lower and upper:
        band = [(i, r[upper]) for i, r in enumerate(rows) if r.get(upper) is not None]
        back = [(i, r[lower]) for i, r in enumerate(rows) if r.get(lower) is not None]
        if band and back:
            pts = " ".join(f"{f.x(x)},{f.y(y)}" for x, y in band + back[::-1])
            f.add(f'<polygon points="{pts}" fill="{PALE}" stroke="none"/>')
    step = max(1, n // 8)
    for i, r in enumerate(rows):
        if i % step == 0 or i == n - 1:
            f.add(
                f'<text x="{f.x(i)}" y="{H - BOTTOM + 18}" text-anchor="middle" '
                f'font-size="12" fill="{DARK}">{escape(r["period"])}</text>'
            )
    legend = [(f'<line x1="0" x2="12" y1="0" y2="0" stroke="{BLUE}" stroke-width="3"/>', "value")]
    if lower and upper:
        legend.append(
            (f'<rect x="0" y="-6" width="12" height="12" fill="{PALE}"/>', "95% interval")
        )
    if peer and any(r.get(peer) is not None for r in rows):
        f.path(
            [(i, r[peer]) for i, r in enumerate(rows) if r.get(peer) is not None], DARK, 1.5, "2 3"
        )
        legend.append(
            (
                f'<line x1="0" x2="12" y1="0" y2="0" stroke="{DARK}" '
                f'stroke-width="2" stroke-dasharray="2 3"/>',
                peer_label,
            )
        )
    for label, y, colour in hlines:
        if y is not None:
            f.path([(0, y), (max(n - 1, 1), y)], colour, 2, "8 4")
            legend.append(
                (
                    f'<line x1="0" x2="12" y1="0" y2="0" stroke="{colour}" '
                    f'stroke-width="2" stroke-dasharray="8 4"/>',
                    label,
                )
            )
    f.path([(i, r[value]) for i, r in enumerate(rows)], BLUE, 3)
    for i, r in enumerate(rows):
        f.add(f'<circle cx="{f.x(i)}" cy="{f.y(r[value])}" r="2.5" fill="{BLUE}"/>')
    desc = (
        f"Monthly trend from {rows[0]['period']} to {rows[-1]['period']}: "
        f"{fmt(rows[0][value])} to {fmt(rows[-1][value])} {unit}."
    )
    return svg(chart_id, title, desc, f.parts, legend)


def bars(chart_id: str, title: str, rows: list[dict], unit: str) -> str:
    """One bar per group (``label``, ``value``, ``lower95``, ``upper95``) with its interval."""
    rows = [r for r in rows if r.get("value") is not None]
    if not rows:
        return ""
    ys = [r["value"] for r in rows] + [r["upper95"] for r in rows if r.get("upper95")]
    f = Frame(0, len(rows), 0, max(ys) * 1.1 or 1.0)
    f.y_axis(unit)
    width = (W - LEFT - RIGHT) / len(rows)
    for i, r in enumerate(rows):
        x = LEFT + i * width + width * 0.2
        top = f.y(r["value"])
        f.add(
            f'<rect x="{round(x, 1)}" y="{top}" width="{round(width * 0.6, 1)}" '
            f'height="{round(H - BOTTOM - top, 1)}" fill="{BLUE}"/>'
        )
        cx = round(x + width * 0.3, 1)
        if r.get("lower95") is not None and r.get("upper95") is not None:
            f.add(
                f'<line x1="{cx}" x2="{cx}" y1="{f.y(r["lower95"])}" '
                f'y2="{f.y(r["upper95"])}" stroke="{DARK}" stroke-width="2"/>'
            )
        f.add(
            f'<text x="{cx}" y="{H - BOTTOM + 18}" text-anchor="middle" font-size="12" '
            f'fill="{DARK}">{escape(r["label"])}</text>'
        )
    desc = "; ".join(f"{r['label']}: {fmt(r['value'])}" for r in rows) + f" ({unit})."
    legend = [
        (f'<rect x="0" y="-6" width="12" height="12" fill="{BLUE}"/>', "value"),
        (f'<line x1="6" x2="6" y1="-6" y2="6" stroke="{DARK}" stroke-width="2"/>', "95% interval"),
    ]
    return svg(chart_id, title, desc, f.parts, legend)
