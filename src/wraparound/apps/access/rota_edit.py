"""Editing a hub's rota: its recurring session templates and whether it opens on bank
holidays, by the hub's own rota staff (role ``hub_staff`` working for the hub,
``User.service``); every other role, and hub staff of another hub, are refused (403, audited).

Each change is checked whole before anything is written (:func:`check_session`): a known
weekday and site, a start and an end (after the start) inside the hub's opening hours for
that weekday, a slot length that fits at least once, a role, mode and slot type from the
access vocabulary, embargo hours from 0 to four weeks with patients released no earlier than
practices, dates that run forwards, and no overlap with another session of the same named
clinician on the same weekday (one person cannot run two sessions at once). An error changes
nothing and the page says what to correct (400).

A saved change re-cuts the session's slots from today (:func:`recut`): its free slots that
no appointment has ever held are removed and generated again from the new template; a free
slot that once held an appointment (cancelled) and no longer fits is blocked instead (its
history stays); booked slots are never touched. Every change is one audit row saying what
changed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from wraparound.apps.access.generate import generate_slots, local, opening_on, slots_for
from wraparound.apps.access.models import WEEKDAYS, Hub, SessionTemplate, Slot
from wraparound.apps.access.rules import hub_defaults
from wraparound.apps.access.vocabulary import HCP_ROLES, MODES, SLOT_TYPES

EDITOR_ROLES = ("hub_staff",)
MAX_EMBARGO_HOURS = 24 * 28
SLOT_MINUTES = (5, 120)
FIELDS = (
    "weekday",
    "start",
    "end",
    "site",
    "clinician_name",
    "role",
    "mode",
    "slot_type",
    "slot_minutes",
    "valid_from",
    "valid_to",
    "release_to_practices_hours",
    "release_to_patients_hours",
)


def may_edit(user, hub: Hub) -> bool:
    return user.role in EDITOR_ROLES and user.service_id == hub.organisation_id


def _time(text: str) -> dt.time | None:
    try:
        return dt.time.fromisoformat(text) if len(text) == 5 and text[2] == ":" else None
    except ValueError:
        return None


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _whole(text: str, low: int, high: int) -> int | None:
    if not (text.isascii() and text.isdigit() and len(text) < 11):
        return None
    value = int(text)
    return value if low <= value <= high else None


def opening_for(hub: Hub, weekday: int) -> tuple[dt.time, dt.time] | None:
    hours = hub.opening_hours or hub_defaults()["opening_hours"]
    pair = hours.get(str(weekday))
    return (dt.time.fromisoformat(pair[0]), dt.time.fromisoformat(pair[1])) if pair else None


@dataclasses.dataclass
class Checked:
    values: dict  # what the form said, to show again
    errors: dict  # field -> message
    clean: dict  # model field -> value, when no errors


def check_session(hub: Hub, data, session: SessionTemplate | None) -> Checked:
    """Check a session form (``data``: the POST) for ``hub``; ``session`` is the template
    being changed (None for a new one). Returns the values, the errors and the clean
    values; nothing is written."""
    v = {k: str(data.get(k, "")).strip()[:200] for k in FIELDS}
    errors: dict[str, str] = {}
    clean: dict = {}
    weekday = _whole(v["weekday"], 0, 6)
    if weekday is None:
        errors["weekday"] = "Choose the day of the week"
    start, end = _time(v["start"]), _time(v["end"])
    if start is None:
        errors["start"] = "Enter the start time as HH:MM, for example 18:00"
    if end is None:
        errors["end"] = "Enter the end time as HH:MM, for example 20:00"
    elif start is not None and end <= start:
        errors["end"] = "The end time must be after the start time"
    if weekday is not None and start and end and "end" not in errors:
        hours = opening_for(hub, weekday)
        day = dict(WEEKDAYS)[weekday]
        if hours is None:
            errors["weekday"] = f"{hub.name} is closed on {day}s"
        elif start < hours[0] or end > hours[1]:
            errors["start"] = (
                f"The session must be inside the opening hours on {day}s, "
                f"{hours[0]:%H:%M} to {hours[1]:%H:%M}"
            )
    site_pk = _whole(v["site"], 1, 10**9)
    site = hub.sites.filter(pk=site_pk).first() if site_pk else None
    if site is None:
        errors["site"] = "Choose one of the hub's sites"
    for field, vocab, what in (
        ("role", HCP_ROLES, "staff role"),
        ("mode", MODES, "mode"),
        ("slot_type", SLOT_TYPES, "slot type"),
    ):
        if v[field] not in vocab:
            errors[field] = f"Choose the {what}"
    minutes = _whole(v["slot_minutes"], *SLOT_MINUTES)
    if minutes is None:
        errors["slot_minutes"] = (
            f"Enter the slot length in minutes, from {SLOT_MINUTES[0]} to {SLOT_MINUTES[1]}"
        )
    elif start and end and end > start:
        length = dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)
        if length < dt.timedelta(minutes=minutes):
            errors["slot_minutes"] = "The session is shorter than one slot"
    valid_from = _date(v["valid_from"])
    if valid_from is None:
        errors["valid_from"] = "Enter the first date of the session as YYYY-MM-DD"
    valid_to = _date(v["valid_to"]) if v["valid_to"] else None
    if v["valid_to"] and valid_to is None:
        errors["valid_to"] = "Enter the last date as YYYY-MM-DD, or leave it empty"
    elif valid_to and valid_from and valid_to < valid_from:
        errors["valid_to"] = "The last date must be on or after the first date"
    release = {}
    for field, who in (
        ("release_to_practices_hours", "practices"),
        ("release_to_patients_hours", "patients"),
    ):
        if not v[field]:
            release[field] = None  # the hub default (data/access/hub_defaults.toml)
            continue
        release[field] = _whole(v[field], 0, MAX_EMBARGO_HOURS)
        if release[field] is None:
            errors[field] = (
                f"Enter how many hours ahead slots are released to {who}, "
                f"0 to {MAX_EMBARGO_HOURS}, or leave it empty for the hub's default"
            )
    if not ({"release_to_practices_hours", "release_to_patients_hours"} & set(errors)):
        embargo = hub_defaults()["embargo"]
        practices = release["release_to_practices_hours"]
        patients = release["release_to_patients_hours"]
        practices = embargo["release_to_practices_hours"] if practices is None else practices
        patients = embargo["release_to_patients_hours"] if patients is None else patients
        if patients > practices:
            errors["release_to_patients_hours"] = (
                "Slots cannot be released to patients before they are released to practices"
            )
    name = v["clinician_name"]
    if not errors:
        same = SessionTemplate.objects.filter(
            hub__organisation=hub.organisation, weekday=weekday, start__lt=end, end__gt=start
        ).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
        if valid_to:
            same = same.filter(valid_from__lte=valid_to)
        if session is not None:
            same = same.exclude(pk=session.pk)
        clinician = session.clinician if session is not None else None
        if clinician is not None:
            same = same.filter(clinician=clinician)
        elif name:
            same = same.filter(clinician__isnull=True, clinician_name__iexact=name)
        else:
            same = same.none()
        clash = same.first()
        if clash is not None:
            errors["start"] = (
                f"{name or clash.who()} already has a session on {dict(WEEKDAYS)[weekday]}s "
                f"from {clash.start:%H:%M} to {clash.end:%H:%M}"
            )
    if not errors:
        clean = {
            "weekday": weekday,
            "start": start,
            "end": end,
            "site": site,
            "clinician_name": name,
            "role": v["role"],
            "mode": v["mode"],
            "slot_type": v["slot_type"],
            "slot_minutes": minutes,
            "valid_from": valid_from,
            "valid_to": valid_to,
            **release,
        }
    return Checked(v, errors, clean)


def values_of(session: SessionTemplate) -> dict:
    """A template as the form shows it."""
    return {
        "weekday": str(session.weekday),
        "start": f"{session.start:%H:%M}",
        "end": f"{session.end:%H:%M}",
        "site": str(session.site_id),
        "clinician_name": session.clinician_name,
        "role": session.role,
        "mode": session.mode,
        "slot_type": session.slot_type,
        "slot_minutes": str(session.slot_minutes),
        "valid_from": session.valid_from.isoformat(),
        "valid_to": session.valid_to.isoformat() if session.valid_to else "",
        "release_to_practices_hours": _text(session.release_to_practices_hours),
        "release_to_patients_hours": _text(session.release_to_patients_hours),
    }


def _text(value) -> str:
    return "" if value is None else str(value)


def recut(session: SessionTemplate, today: dt.date | None = None) -> dict[str, int]:
    """Re-cut ``session``'s slots from ``today`` to follow the template: free slots never
    held are removed and made again; free ones once held that no longer fit are blocked;
    booked slots stay as they are. Returns the counts."""
    today = today or timezone.localdate()
    future = Slot.objects.filter(session=session, start__gte=local(today, dt.time()))
    fits = set()
    date, last = today, today + dt.timedelta(weeks=hub_defaults()["weeks_ahead"])
    while date < last:
        if date.weekday() == session.weekday and date >= session.valid_from:
            hours = opening_on(session.hub, date)  # bank holidays and hub days included
            if hours and (session.valid_to is None or date <= session.valid_to):
                fits |= {(s.start, s.end) for s in slots_for(session, date, hours)}
        date += dt.timedelta(days=1)
    free = future.filter(status="free")
    removed = free.filter(holds__isnull=True).exclude(
        pk__in=[s.pk for s in free if (s.start, s.end) in fits and _same(s, session)]
    )
    counts = {"removed": removed.count()}
    removed.delete()
    once_held = list(free.filter(holds__isnull=False).distinct())
    stale = [s.pk for s in once_held if (s.start, s.end) not in fits]
    counts["blocked"] = Slot.objects.filter(pk__in=stale).update(status="blocked")
    for slot in once_held:  # still fitting: take the template's new terms
        if slot.pk not in stale and not _same(slot, session):
            slot.released_to_practices_at, slot.released_to_patients_at = _release(session, slot)
            slot.role, slot.mode, slot.slot_type = session.role, session.mode, session.slot_type
            slot.site_id = session.site_id
            slot.save()
    counts["booked_kept"] = future.filter(status="booked").count()
    counts["made"] = generate_slots(session.hub, today)
    return counts


def _same(slot: Slot, session: SessionTemplate) -> bool:
    return (slot.role, slot.mode, slot.slot_type, slot.site_id) == (
        session.role,
        session.mode,
        session.slot_type,
        session.site_id,
    ) and (slot.released_to_practices_at, slot.released_to_patients_at) == _release(session, slot)


def _release(session: SessionTemplate, slot: Slot):
    embargo = hub_defaults()["embargo"]
    practices = session.release_to_practices_hours
    patients = session.release_to_patients_hours
    practices = embargo["release_to_practices_hours"] if practices is None else practices
    patients = embargo["release_to_patients_hours"] if patients is None else patients
    return (
        slot.start - dt.timedelta(hours=practices),
        slot.start - dt.timedelta(hours=patients),
    )


def save_session(hub: Hub, session: SessionTemplate | None, clean: dict) -> tuple:
    """Create or change a template from checked values and re-cut its slots, in one
    transaction. Returns (session, what changed in words, counts)."""
    with transaction.atomic():
        if session is None:
            session = SessionTemplate.objects.create(hub=hub, **clean)
            changed = ["new session"]
        else:
            session = SessionTemplate.objects.select_for_update().get(pk=session.pk)
            changed = [k for k, value in clean.items() if getattr(session, k) != value]
            for k in changed:
                setattr(session, k, clean[k])
            session.save()
        counts = recut(session)
    return session, changed, counts


def end_session(session: SessionTemplate, last: dt.date) -> dict[str, int]:
    """Stop a session after ``last`` (its valid_to): its later unbooked slots go (or are
    blocked when once held), booked ones stay."""
    with transaction.atomic():
        session.valid_to = last
        session.save(update_fields=["valid_to"])
        return recut(session)


def save_bank_holidays(hub: Hub, data) -> tuple[dict, dict]:
    """Check and save whether the hub opens on England's bank holidays and its hours then.
    Returns (values, errors); nothing is written on an error."""
    values = {
        "open_on_bank_holidays": data.get("open_on_bank_holidays", "") == "yes",
        "opens": str(data.get("opens", "")).strip()[:10],
        "closes": str(data.get("closes", "")).strip()[:10],
    }
    errors = {}
    opens, closes = _time(values["opens"]), _time(values["closes"])
    if values["open_on_bank_holidays"]:
        if opens is None:
            errors["opens"] = "Enter the opening time on bank holidays as HH:MM"
        if closes is None:
            errors["closes"] = "Enter the closing time on bank holidays as HH:MM"
        elif opens is not None and closes <= opens:
            errors["closes"] = "The closing time must be after the opening time"
    if errors:
        return values, errors
    with transaction.atomic():
        hub.open_on_bank_holidays = values["open_on_bank_holidays"]
        if opens and closes:
            hub.bank_holiday_hours = [f"{opens:%H:%M}", f"{closes:%H:%M}"]
        hub.save(update_fields=["open_on_bank_holidays", "bank_holiday_hours"])
        for session in hub.sessions.all():
            recut(session)
    return values, {}
