"""A tiny hand-worked hub world for the capacity ledger tests: one neighbourhood of two
practices (1,500 and 500 living patients, plus one who died), one hub, one week of slots and
four appointments whose ledger is worked out by hand in test_access_capacity.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from wraparound.apps.access.models import Appointment, AppointmentSlot, Hub, Site, Slot
from wraparound.apps.records.models import Organisation, Patient

LONDON = ZoneInfo("Europe/London")
WEEK = dt.date(2026, 6, 8)  # a Monday


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)


def build() -> dict:
    locality = Organisation.objects.filter(kind="locality").first()
    nb = Organisation.objects.create(
        org_id="UXTEST", name="Testwell Neighbourhood", kind="neighbourhood", parent=locality
    )
    pa = Organisation.objects.create(org_id="PXA", name="Alpha", kind="practice", parent=nb)
    pb = Organisation.objects.create(org_id="PXB", name="Beta", kind="practice", parent=nb)
    hub_org = Organisation.objects.create(
        org_id="HXTEST", name="Testwell Hub", kind="hub", parent=nb
    )
    people = []
    for i in range(2001):
        practice = pa if i < 1500 or i == 2000 else pb
        people.append(
            Patient(
                pseudonym=f"ledger-{i}",
                nhs_number=f"L{i:09d}",
                given_name="Test",
                family_name=f"Ledger{i}",
                practice=practice,
                neighbourhood=nb,
                death_date=dt.date(2026, 1, 1) if i == 2000 else None,
            )
        )
    Patient.objects.bulk_create(people)
    hub = Hub.objects.create(organisation=hub_org, neighbourhood=nb, name="Testwell Hub")
    site = Site.objects.create(hub=hub, name="Testwell Health Centre")
    saturday = WEEK + dt.timedelta(days=5)

    def slot(start, minutes, role, mode, status="booked"):
        return Slot.objects.create(
            hub=hub,
            site=site,
            role=role,
            mode=mode,
            slot_type="routine",
            start=start,
            end=start + dt.timedelta(minutes=minutes),
            status=status,
        )

    core = slot(at(WEEK, 10), 30, "gp", "face_to_face")
    evening = slot(at(WEEK, 19), 30, "nurse", "telephone")
    weekend = slot(at(saturday, 10), 60, "gp", "video")
    slot(at(WEEK, 11), 30, "gp", "face_to_face", status="blocked")  # not offered

    def book(slot, patient, status, booked_at, **extra):
        appt = Appointment.objects.create(
            patient=patient,
            hub=hub,
            booking_org=hub_org,
            start=slot.start,
            end=slot.end,
            mode=slot.mode,
            slot_type=slot.slot_type,
            status=status,
            **extra,
        )
        Appointment.objects.filter(pk=appt.pk).update(booked_at=booked_at)
        AppointmentSlot.objects.create(
            appointment=appt, slot=slot, active=not status.startswith("cancelled")
        )
        return appt

    alpha = Patient.objects.get(pseudonym="ledger-0")
    beta = Patient.objects.get(pseudonym="ledger-1999")
    book(core, alpha, "finished", at(WEEK, 9), need="urgent_2h", help_requested_at=at(WEEK, 8, 30))
    book(
        evening,
        beta,
        "did_not_attend",
        at(WEEK - dt.timedelta(days=10), 12),
        need="same_day",
        help_requested_at=at(WEEK, 9),
    )
    book(weekend, alpha, "cancelled_patient", at(WEEK, 9), late_cancellation=True)
    book(
        weekend,
        beta,
        "booked",
        at(saturday - dt.timedelta(days=3), 9),
        national_category="Planned Clinics",
    )
    return {"hub": hub_org, "nb": nb, "pa": pa, "pb": pb}
