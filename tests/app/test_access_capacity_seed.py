"""The demo's hub activity (access/seed.py): hubs with rotas for the coming four weeks and
a year of past bookings with outcomes, the ledger built from them, and a second run adds
nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.access.ledger_models import CapacityWeek, StandardsWeek
from wraparound.apps.access.models import Appointment, AppointmentSlot, Hub, Slot
from wraparound.apps.access.seed import seed_hubs
from wraparound.apps.records.models import Organisation, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_seed_makes_a_year_of_activity_and_four_weeks_ahead(login):
    made = seed_hubs()
    hubs = Organisation.objects.filter(kind="hub", parent__isnull=False).count()
    assert made["hubs"] == hubs == Hub.objects.count() >= 1
    today = timezone.localdate()
    now = timezone.now()
    ahead = Slot.objects.filter(start__gte=now)
    assert ahead.exists()
    last = max(ahead.values_list("start", flat=True)).astimezone(dt.UTC).date()
    assert today + dt.timedelta(days=21) <= last <= today + dt.timedelta(days=28)
    past = Appointment.objects.filter(start__lt=now)
    statuses = set(past.values_list("status", flat=True))
    assert {"finished", "did_not_attend", "cancelled_patient"} <= statuses
    assert not past.filter(status="booked").exists()
    assert Appointment.objects.filter(start__gte=now, status="booked").exists()
    first = past.order_by("start").first().start
    assert first.date() <= today - dt.timedelta(days=350)
    # Every appointment was booked before it started, and asked for before it was booked.
    for appt in Appointment.objects.all()[:2000]:
        assert appt.booked_at < appt.start
        if appt.help_requested_at:
            assert appt.help_requested_at <= appt.booked_at
    # Evening and weekend slots are offered; one active holder per held slot.
    assert Slot.objects.filter(start__week_day=7).exists()  # Saturday
    held = AppointmentSlot.objects.filter(active=True).values_list("slot_id", flat=True)
    assert len(held) == len(set(held))
    # Patients of every practice the hubs serve are booked at them, not only one's.
    served = set(
        Organisation.objects.filter(
            kind="practice", parent__in=Hub.objects.values("neighbourhood"), patients__isnull=False
        ).values_list("pk", flat=True)
    )
    booked = set(Appointment.objects.order_by().values_list("patient__practice_id", flat=True))
    assert booked == served
    # The ledger is built: per 1,000 per week, with the standards measured.
    assert made["ledger"]["appointments"] == Appointment.objects.count()
    assert CapacityWeek.objects.filter(level="practice", split="all").exists()
    assert StandardsWeek.objects.filter(standard="urgent_within_2_hours", met__gt=0).exists()
    # A second run adds nothing.
    before = (Slot.objects.count(), Appointment.objects.count())
    again = seed_hubs()
    assert again["slots"] == 0 and (Slot.objects.count(), Appointment.objects.count()) == before
    # The co-ordinator's dashboard shows their neighbourhood's figures.
    coordinator = User.objects.get(username="coordinator")
    page = login("coordinator").get(reverse("access_capacity"))
    assert page.status_code == 200
    assert coordinator.scope_org.name in page.content.decode()
    assert b"Offered per 1,000" in page.content
