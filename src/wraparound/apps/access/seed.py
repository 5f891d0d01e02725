"""Demo hub activity: every hub organisation gets a hub, a weekly rota, slots for the past
year and the coming four weeks, and a year of bookings with outcomes (attended, DNA,
cancelled by the patient or the practice, some late), plus bookings in the next fortnight.

For ``wraparound app demo`` only (``apps/demo.py`` calls :func:`seed_hubs`): the numbers
are plausible, not calibrated. Past appointments are written in bulk (one version row each,
"seeded by the demo"), not through ``booking.book``, which would audit tens of thousands of
bookings nobody made; the rota and the slots are made by the real generator
(``generate.generate_slots``), so the clock changes and bank holidays behave as they do for
real hubs. Deterministic for a given seed and day. The ledger is rebuilt at the end.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from wraparound.apps.access import gpad
from wraparound.apps.access.capacity import refresh_ledger
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import (
    Appointment,
    AppointmentSlot,
    AppointmentVersion,
    SessionTemplate,
    Slot,
)
from wraparound.apps.records.models import Organisation, Patient

SEED = 2026
PAST_WEEKS = 52
# (weekday(s), start, end, role, mode, slot type, minutes, who): a hub's week.
ROTA = (
    (range(5), "10:00", "12:00", "nurse", "telephone", "same_day", 10, "Hub nurse"),
    (range(5), "16:00", "18:00", "gp", "face_to_face", "urgent", 15, "Hub GP (urgent)"),
    (range(5), "18:30", "20:00", "gp", "face_to_face", "routine", 15, "Hub GP (evening)"),
    ((1, 3), "18:30", "20:00", "nurse", "video", "routine", 15, "Hub nurse (evening)"),
    ((2,), "14:00", "16:00", "pharmacist", "video", "long", 30, "Hub pharmacist"),
    ((5,), "09:00", "13:00", "gp", "face_to_face", "routine", 15, "Hub GP (Saturday)"),
    ((5,), "13:00", "15:00", "gp", "face_to_face", "under_5s", 15, "Hub GP (children)"),
    ((6,), "10:00", "13:00", "nurse", "face_to_face", "routine", 15, "Hub nurse (Sunday)"),
)
NEED_OF = {"urgent": "urgent_2h", "same_day": "same_day", "under_5s": "under_5s_same_day"}


def _rota(hub, valid_from: dt.date) -> None:
    if SessionTemplate.objects.filter(hub=hub).exists():
        return
    site = hub.sites.first()
    SessionTemplate.objects.bulk_create(
        SessionTemplate(
            hub=hub,
            site=site,
            clinician_name=who,
            role=role,
            mode=mode,
            slot_type=slot_type,
            slot_minutes=minutes,
            weekday=day,
            start=dt.time.fromisoformat(start),
            end=dt.time.fromisoformat(end),
            valid_from=valid_from,
        )
        for days, start, end, role, mode, slot_type, minutes, who in ROTA
        for day in days
    )


def _booking(rng: random.Random, slot: Slot, now: dt.datetime) -> dict:
    """When help was asked for and the booking made, what for, and what became of it."""
    need = NEED_OF.get(slot.slot_type, "routine")
    if need == "routine" and rng.random() < 0.15:
        need = "within_48h"
    if need == "urgent_2h":
        requested = slot.start - dt.timedelta(minutes=rng.choice((20, 45, 70, 100, 130, 200)))
        booked = requested + dt.timedelta(minutes=5)
    elif need in ("same_day", "under_5s_same_day"):
        back = rng.choice((1, 2, 3, 4, 6, 26))  # hours; the last is the day before
        requested = slot.start - dt.timedelta(hours=back)
        booked = requested + dt.timedelta(minutes=10)
    elif need == "within_48h":
        requested = slot.start - dt.timedelta(hours=rng.choice((6, 20, 30, 44, 60)))
        booked = requested + dt.timedelta(minutes=15)
    else:
        requested = None
        booked = slot.start - dt.timedelta(days=rng.choice((0, 1, 2, 3, 5, 7, 10, 14, 21, 30)))
        booked = booked.replace(hour=9) if booked.hour > 12 else booked
    booked = min(booked, slot.start - dt.timedelta(minutes=5))
    if requested is not None:
        requested = min(requested, booked)
    if slot.start > now:
        status = "booked"
    else:
        roll = rng.random()
        status = (
            "finished"
            if roll < 0.84
            else "did_not_attend"
            if roll < 0.91
            else "cancelled_patient"
            if roll < 0.97
            else "cancelled_practice"
        )
        if status == "finished" and (slot.start - booked).days > 14 and rng.random() < 0.08:
            status = "did_not_attend"  # long waits are missed more often
    return {"need": need, "requested": requested, "booked": booked, "status": status}


def _set_booked_at(appointments: list[Appointment], booked: list[dt.datetime]) -> None:
    """Store each appointment's booking time as the ORM would (``adapt_datetimefield_value``:
    naive UTC text on SQLite, a timestamp with time zone on PostgreSQL)."""
    field = Appointment._meta.get_field("booked_at")
    sql = (
        f"UPDATE {connection.ops.quote_name(Appointment._meta.db_table)} "
        f"SET {connection.ops.quote_name(field.column)} = %s "
        f"WHERE {connection.ops.quote_name(Appointment._meta.pk.column)} = %s"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(adapt(at), appt.pk) for appt, at in zip(appointments, booked, strict=True)]
        )
    for appt, at in zip(appointments, booked, strict=True):
        appt.booked_at = at


@transaction.atomic
def seed_hubs(today: dt.date | None = None, seed: int = SEED) -> dict:
    """Hubs, rotas, slots and a year of bookings for every hub organisation; returns counts.
    Running it again adds nothing (a hub that has appointments is left as it is)."""
    today = today or timezone.localdate()
    now = timezone.now()
    rng = random.Random(seed)
    start = today - dt.timedelta(weeks=PAST_WEEKS)
    made = {"hubs": 0, "slots": 0, "appointments": 0}
    for org in Organisation.objects.filter(kind="hub", parent__isnull=False).order_by("org_id"):
        hub = create_hub(org)
        made["hubs"] += 1
        _rota(hub, start)
        made["slots"] += generate_slots(hub, start=start, weeks=PAST_WEEKS)
        made["slots"] += generate_slots(hub, start=today)
        if Appointment.objects.filter(hub=hub).exists():
            continue
        people = list(
            Patient.objects.filter(neighbourhood=hub.neighbourhood, death_date__isnull=True)
            .order_by("pk")
            .values_list("pk", "practice_id")
        )
        if not people:
            continue
        horizon = now + dt.timedelta(days=14)
        slots = list(Slot.objects.filter(hub=hub, start__lt=horizon).order_by("start", "pk"))
        appointments, holds = [], []
        for slot in slots:
            if rng.random() > (0.78 if slot.start <= now else 0.45):
                continue
            b = _booking(rng, slot, now)
            cancelled = b["status"].startswith("cancelled")
            patient, practice = rng.choice(people)
            appointments.append(
                Appointment(
                    patient_id=patient,
                    hub=hub,
                    booking_org_id=practice if rng.random() < 0.3 else org.pk,
                    start=slot.start,
                    end=slot.end,
                    mode=slot.mode,
                    slot_type=slot.slot_type,
                    reason="Demo booking",
                    need=b["need"],
                    help_requested_at=b["requested"],
                    national_category=gpad.default_national_category(slot.slot_type, slot.mode),
                    status=b["status"],
                    arrived_at=slot.start if b["status"] == "finished" else None,
                    seen_at=slot.start if b["status"] == "finished" else None,
                    finished_at=slot.end if b["status"] == "finished" else None,
                    cancelled_at=slot.start - dt.timedelta(hours=rng.choice((2, 30, 72)))
                    if b["status"].startswith("cancelled")
                    else None,
                    cancel_reason="Demo cancellation" if cancelled else "",
                ),
            )
            holds.append((slot, b))
        for appt in appointments:
            if appt.cancelled_at is not None:
                appt.late_cancellation = appt.start - appt.cancelled_at < dt.timedelta(hours=24)
        Appointment.objects.bulk_create(appointments, batch_size=2000)
        # auto_now_add set "now"; the demo's history is older. One executemany of plain
        # UPDATEs, not bulk_update's CASE WHEN over thousands of ids.
        _set_booked_at(appointments, [b["booked"] for _slot, b in holds])
        AppointmentSlot.objects.bulk_create(
            (
                AppointmentSlot(
                    appointment=appt, slot=slot, active=not appt.status.startswith("cancelled")
                )
                for appt, (slot, _b) in zip(appointments, holds, strict=True)
            ),
            batch_size=2000,
        )
        held = defaultdict(list)
        for appt, (slot, _b) in zip(appointments, holds, strict=True):
            held[not appt.status.startswith("cancelled")].append(slot.pk)
        Slot.objects.filter(pk__in=held[True]).update(status="booked")
        AppointmentVersion.objects.bulk_create(
            (
                AppointmentVersion(
                    appointment=appt,
                    version=1,
                    change="seeded by the demo",
                    data={"status": appt.status, "need": appt.need},
                )
                for appt in appointments
            ),
            batch_size=2000,
        )
        made["appointments"] += len(appointments)
    made["ledger"] = refresh_ledger()
    return made
