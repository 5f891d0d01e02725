"""Hub appointments on the patient timeline (issue 13): the access app adds them to care's
timeline through care's registry (``register_timeline_source``), in date order with the
warehouse contacts, with hub, time and status; a cancelled one shows as cancelled; a user
with no relationship to the patient is refused the timeline and sees none of it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient, hub_open_day, hub_session

from wraparound.apps.access.booking import Actor, book, change_status
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Slot
from wraparound.apps.care.models import Contact
from wraparound.apps.care.timeline import timeline, timeline_sources
from wraparound.apps.records.models import AuditEvent, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


@pytest.fixture
def booked():
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, 2, "18:00", "19:00")
    hub_session(hub, day, "18:00", "19:00", clinician=hub_user, mode="video", slot_minutes=30)
    generate_slots(hub, day, weeks=1)
    slots = list(Slot.objects.filter(hub=hub).order_by("start"))
    patient = fresh_patient(at_gp_practice=True)
    actor = Actor(user=hub_user)
    first, _ = book(actor, patient, slots[0], reason="Asthma review", slots=1)
    second, _ = book(actor, patient, slots[1], reason="Second review", slots=1)
    change_status(actor, second, "cancelled_patient", "feeling better")
    # a warehouse contact a week ago, to sit in date order with the appointments
    Contact.objects.create(
        patient=patient,
        encounter_id="enc-timeline-1",
        kind="ae",
        start=timezone.now() - dt.timedelta(days=7),
        status="finished",
        org_name="Trafford General",
    )
    return {"hub": hub, "patient": patient, "first": first, "second": second}


def test_hub_appointments_show_in_date_order_with_hub_time_and_status(client, login, booked):
    assert "access.appointments" in timeline_sources()  # registered from AccessConfig.ready()
    rows = timeline(booked["patient"])
    assert [r.kind for r in rows] == ["hub_appointment", "hub_appointment", "ae"]
    assert [r.start for r in rows] == sorted((r.start for r in rows), reverse=True)
    login("gp")
    response = client.get(reverse("patient_timeline", args=[booked["patient"].pk]))
    assert response.status_code == 200
    text = response.content.decode()
    when = timezone.localtime(booked["first"].start)
    assert f"{when:%-d %b %Y} 18:00" in text and f"{when:%-d %b %Y} 18:30" in text
    assert text.count("Hub appointment") == 2 and booked["hub"].name in text
    assert "Booked" in text
    assert "Cancelled by the patient" in text  # the cancelled one shows as cancelled
    assert text.index("18:30") < text.index("18:00") < text.index("Trafford General")
    assert AuditEvent.objects.filter(
        patient=booked["patient"], username="gp", what="contact timeline", outcome="allowed"
    ).exists()


def test_no_relationship_no_timeline(client, login, booked):
    stranger = fresh_patient()  # another practice: the GP has no relationship
    freed = booked["second"].holds.get().slot  # the cancelled appointment's slot, free again
    book(Actor(user=User.objects.get(username="hub")), stranger, freed, reason="Rash", slots=1)
    login("gp")
    response = client.get(reverse("patient_timeline", args=[stranger.pk]))
    assert response.status_code == 403
    assert booked["hub"].name not in response.content.decode()
    assert AuditEvent.objects.filter(patient=stranger, username="gp", outcome="denied").exists()
