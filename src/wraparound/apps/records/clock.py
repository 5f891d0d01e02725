"""The app's *today for data*: the day the warehouse's data say it is.

Dates that come from the warehouse (an appointment, a referral) are dates in the data, and the
data may end before today: the synthetic locality ends on 31 March 2026 whatever the wall
clock says, and a real extract arrives a day or a month behind. The app takes the same day
the rest of Wraparound does: **today, or the data end (the day after the warehouse's last
encounter) when that is earlier**, the date ``stratify`` scores on and ``outreach`` builds
on (``outreach.build.default_date``). ``wraparound app refresh`` records the data end of the
warehouse it loaded (``WarehouseLoad.summary["data_end"]``), so a request reads one row,
never the warehouse.

The data clock moves on with the wall clock after a refresh: on the day of the refresh it is
the data end; ``n`` days later it is the data end plus ``n`` (never later than today). A feed
that stops arriving therefore does not stop time: a relationship dated in the data ends when
its days have passed, refresh or not. With a live feed (data to yesterday, refreshed nightly)
it is today. With no refresh yet it is today.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from wraparound.apps.records.models import WarehouseLoad


def data_end(engine) -> dt.date | None:
    """The day after the warehouse's last encounter (any status: a booking ahead is data
    too, as ``stratify`` and ``outreach`` take it); None for a warehouse without encounters."""
    enc = engine.table("encounters")
    last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0]
    if not last.is_valid:
        return None
    return last.as_py().date() + dt.timedelta(days=1)


def data_today(now: dt.datetime | None = None) -> dt.date:
    """Today for data at ``now`` (default: now), from the latest refresh's data end."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    row = WarehouseLoad.objects.order_by("-id").values_list("summary__data_end", "at").first()
    end = row[0] if row else None
    if not end:
        return today
    try:
        end = dt.date.fromisoformat(end)
    except (TypeError, ValueError):
        return today
    lag = (timezone.localdate(row[1]) - end).days
    return today - dt.timedelta(days=lag) if lag > 0 else today


def for_load(engine, now: dt.datetime | None = None) -> tuple[str | None, dt.date]:
    """What a refresh of ``engine``'s warehouse records (its data end, ISO, for
    ``WarehouseLoad.summary["data_end"]``) and the today for data it loads on: today, or the
    data end when that is earlier (what :func:`data_today` says once the refresh is recorded)."""
    today = timezone.localdate(now or timezone.now())
    end = data_end(engine)
    return (end.isoformat(), min(today, end)) if end else (None, today)


def load_day(engine, now: dt.datetime | None = None) -> dt.date:
    """The today for data a load of ``engine``'s warehouse works on (:func:`for_load`)."""
    return for_load(engine, now)[1]
