"""Slots from rotas: each hub's recurring session templates cut into slots for the coming
weeks, inside the hub's opening hours, closed on England's bank holidays unless the hub opens
them (``HubDay`` opens or closes one date either way).

Times are Europe/London wall-clock times in the templates and the hours. A session's start
and end are placed on the date with ``zoneinfo`` and then walked in absolute time, so on the
last Sunday of March and of October a session from 09:00 to 10:00 is still six 10-minute
slots starting at 09:00 local time, never one lost or doubled. A wall-clock time that does
not exist (01:30 on the spring-forward night) is moved forward by the gap, as zoneinfo does;
an ambiguous one (01:30 on the autumn night) is its first occurrence.

Generation is idempotent: a slot is unique per session and start, so running it again (the
nightly job, or after a template changes) adds only what is missing.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays
from django.db.models import Q
from django.utils import timezone

from wraparound.apps.access.models import Hub, HubDay, SessionTemplate, Slot
from wraparound.apps.access.rules import hub_defaults

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


@functools.cache
def _bank_holidays(year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("GB", subdiv="ENG", years=year))


def bank_holiday(date: dt.date) -> str | None:
    """England's bank holiday on ``date`` (its name), or None."""
    return _bank_holidays(date.year).get(date)


def local(date: dt.date, time: dt.time) -> dt.datetime:
    """``time`` on ``date`` in Europe/London, as an aware UTC datetime."""
    wall = dt.datetime.combine(date, time, tzinfo=LONDON)
    # A non-existent wall time round-trips to a later one; normalise through UTC.
    return wall.astimezone(UTC)


def opening_on(hub: Hub, date: dt.date) -> tuple[dt.time, dt.time] | None:
    """When the hub is open on ``date`` (local times), or None when closed."""
    day = HubDay.objects.filter(hub=hub, date=date).first()
    if day is not None:
        if not day.open:
            return None
        if day.opens and day.closes:
            return day.opens, day.closes
    elif bank_holiday(date):
        if not hub.open_on_bank_holidays:
            return None
        pair = hub.bank_holiday_hours or hub_defaults()["bank_holiday_hours"]
        return dt.time.fromisoformat(pair[0]), dt.time.fromisoformat(pair[1])
    hours = hub.opening_hours or hub_defaults()["opening_hours"]
    pair = hours.get(str(date.weekday()))
    if not pair:
        return None
    return dt.time.fromisoformat(pair[0]), dt.time.fromisoformat(pair[1])


def slots_for(template: SessionTemplate, date: dt.date, hours) -> list[Slot]:
    """The slots ``template`` makes on ``date`` inside ``hours`` (unsaved)."""
    opens, closes = hours
    start = local(date, max(template.start, opens))
    end = local(date, min(template.end, closes))
    step = dt.timedelta(minutes=template.slot_minutes)
    embargo = hub_defaults()["embargo"]
    practices = template.release_to_practices_hours
    patients = template.release_to_patients_hours
    practices = embargo["release_to_practices_hours"] if practices is None else practices
    patients = embargo["release_to_patients_hours"] if patients is None else patients
    slots = []
    at = start
    while at + step <= end:
        slots.append(
            Slot(
                hub_id=template.hub_id,
                session=template,
                site_id=template.site_id,
                clinician_id=template.clinician_id,
                role=template.role,
                mode=template.mode,
                slot_type=template.slot_type,
                start=at,
                end=at + step,
                released_to_practices_at=at - dt.timedelta(hours=practices),
                released_to_patients_at=at - dt.timedelta(hours=patients),
            )
        )
        at += step
    return slots


def generate_slots(hub: Hub, start: dt.date | None = None, weeks: int | None = None) -> int:
    """Make the hub's slots from ``start`` (today) for ``weeks`` (the data file's
    ``weeks_ahead``); return how many new slots were made."""
    start = start or timezone.localdate()
    weeks = weeks or hub_defaults()["weeks_ahead"]
    last = start + dt.timedelta(weeks=weeks) - dt.timedelta(days=1)
    templates = list(
        SessionTemplate.objects.filter(hub=hub, valid_from__lte=last).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=start)
        )
    )
    made = []
    date = start
    while date <= last:
        hours = opening_on(hub, date)
        if hours:
            for template in templates:
                if template.weekday != date.weekday() or date < template.valid_from:
                    continue
                if template.valid_to and date > template.valid_to:
                    continue
                made.extend(slots_for(template, date, hours))
        date += dt.timedelta(days=1)
    if not made:
        return 0
    existing = set(
        Slot.objects.filter(
            session__in=templates,
            start__gte=min(s.start for s in made),
            start__lte=max(s.start for s in made),
        ).values_list("session_id", "start")
    )
    new = [s for s in made if (s.session_id, s.start) not in existing]
    Slot.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    return len(new)
