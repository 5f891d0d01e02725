"""The monthly Friends and Family Test roll-up: per practice, hub and service, the share of
responses that were positive, with a 95% Wilson score interval.

**Percentage positive = (very good + good) / all responses**, "don't know" included in the
total: NHS England's published FFT figures are calculated this way (its guidance counts every
response to the mandatory question; "don't know" is neither positive nor negative but is a
response). The interval is the Wilson score interval (``analytics.stats.wilson``), as every
proportion in Wraparound.

``rows()`` gives the true counts, for staff (role-gated). ``public_rows()`` applies the
disclosure rule of the published scorecard (``analytics.disclosure``): counts of 1 to 7
suppressed (a row with a small numerator or denominator is suppressed whole), others
rounded to the nearest 5, value and interval computed from the rounded counts; and because
the three breakdowns of one month add up to the same total, a month and level with a single
suppressed row has a second one suppressed (the smallest shown), so no row can be recovered
by differencing. Free text never enters either.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q

from wraparound.analytics import disclosure
from wraparound.analytics.stats import wilson
from wraparound.apps.feedback.content import fft
from wraparound.apps.feedback.models import Response

LEVELS = ("practice", "hub", "service")


@dataclass
class Row:
    level: str
    code: str
    name: str
    month: dt.date
    positive: float | None
    responses: float | None
    value: float | None = None
    lower95: float | None = None
    upper95: float | None = None
    suppressed: bool = False

    @property
    def period(self) -> str:
        return self.month.strftime("%Y-%m")


def _with_interval(row: Row) -> Row:
    if row.responses:
        lo, hi = wilson([row.positive], [row.responses])
        row.value = 100 * row.positive / row.responses
        row.lower95, row.upper95 = 100 * float(lo[0]), 100 * float(hi[0])
    return row


def rows(responses=None, levels=LEVELS) -> list[Row]:
    """Every month, level and organisation or service with at least one response."""
    responses = Response.objects.all() if responses is None else responses
    positive = Q(answer__in=sorted(fft().positive))
    out: list[Row] = []
    keys = {
        "practice": ("practice_id", "practice__name"),
        "hub": ("hub_id", "hub__name"),
        "service": ("service_code", "service_name"),
    }
    for level in levels:
        code, name = keys[level]
        found = (
            responses.exclude(**{f"{code}__isnull": True})
            .values("month", code, name)
            .annotate(n=Count("pk"), pos=Count("pk", filter=positive))
            .order_by("month", code)
        )
        for r in found:
            out.append(
                _with_interval(
                    Row(
                        level,
                        r[code],
                        r[name] or r[code],
                        r["month"],
                        float(r["pos"]),
                        float(r["n"]),
                    )
                )
            )
    return out


def _round(n: float) -> float | None:
    if disclosure.SUPPRESS_MIN <= n <= disclosure.SUPPRESS_MAX:
        return None
    return float(disclosure.ROUND_TO * round(n / disclosure.ROUND_TO))


def public_rows(levels=LEVELS) -> list[Row]:
    """``rows()`` under disclosure control (module docstring)."""
    shown: list[Row] = []
    for r in rows(levels=levels):
        n, pos = _round(r.responses), _round(r.positive)
        if n is None or pos is None:  # as the scorecard: a small count suppresses the row
            shown.append(Row(r.level, r.code, r.name, r.month, None, None, suppressed=True))
            continue
        shown.append(_with_interval(Row(r.level, r.code, r.name, r.month, pos, n)))
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in shown:
        groups[(r.level, r.month)].append(r)
    for group in groups.values():
        hidden = [r for r in group if r.suppressed]
        visible = sorted((r for r in group if not r.suppressed), key=lambda r: r.responses)
        if len(hidden) == 1 and visible:
            second = visible[0]
            second.positive = second.responses = second.value = None
            second.lower95 = second.upper95 = None
            second.suppressed = True
    return shown
