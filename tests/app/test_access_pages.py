"""The access pages (issue 13): the hub rota, "find a slot" with its filters, booking a slot
for a patient of another practice through the form (one gate row and one grant row), the
slot taken with the next free ones offered, the hub clinician's day list (audited) and the
patient page's hub appointments; refusals for roles that cannot book, for break-glass, and
for patients outside the hub's neighbourhood; malformed parameters answered 400."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient, hub_open_day, hub_session, patients

from wraparound.apps.access.booking import Actor, book
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment, Slot
from wraparound.apps.records.models import AuditEvent, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


@pytest.fixture
def hub():
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, 2, "18:00", "20:00")
    for mode, start in (("face_to_face", "18:00"), ("video", "19:00")):
        end = f"{int(start[:2]) + 1}:00"
        hub_session(hub, day, start, end, clinician=hub_user, mode=mode, slot_minutes=20)
    generate_slots(hub, day, weeks=1)
    return hub


def slots_of(hub):
    return list(Slot.objects.filter(hub=hub).order_by("start"))


def test_rota_page(client, login, hub):
    login("coordinator")
    day = slots_of(hub)[0].start
    monday = timezone.localtime(day).date() - dt.timedelta(days=timezone.localtime(day).weekday())
    html = client.get(reverse("access_rota", args=[hub.pk]), {"week": monday.isoformat()})
    assert html.status_code == 200
    text = html.content.decode()
    assert "18:00–19:00" in text and "Video" in text and "Mia Brennan" in text
    assert client.get(reverse("access_rota", args=[hub.pk]), {"week": "soon"}).status_code == 400


def test_hub_staff_find_an_evening_slot_for_another_practices_patient_and_book(client, login, hub):
    patient = fresh_patient()  # at another practice of the neighbourhood
    login("hub")
    found = client.get(reverse("access_find"), {"nhs_number": patient.nhs_number, "mode": "video"})
    assert found.status_code == 200
    text = found.content.decode()
    assert patient.nhs_number_display() in text
    video = [s for s in slots_of(hub) if s.mode == "video"]
    assert reverse("access_book", args=[patient.pk]) + f"?slot={video[0].pk}" in text
    assert f"?slot={slots_of(hub)[0].pk}" not in text  # face to face filtered out
    form = client.get(reverse("access_book", args=[patient.pk]), {"slot": video[0].pk})
    assert form.status_code == 200
    before = AuditEvent.objects.filter(patient=patient).count()
    response = client.post(
        reverse("access_book", args=[patient.pk]),
        {
            "slot": video[0].pk,
            "reason": "Evening review of asthma",
            "mode": "video",
            "interpreter": "yes",
            "language": "Polish",
            "adjustments": "Prefers evenings",
            "idempotency_key": "form-1",
        },
    )
    assert response.status_code == 302
    appt = Appointment.objects.get(patient=patient)
    assert (appt.interpreter_language, appt.booked_by.username) == ("Polish", "hub")
    rows = AuditEvent.objects.filter(patient=patient).order_by("pk")[before:]
    assert sorted(r.action for r in rows) == ["grant", "write"]
    assert {r.basis for r in rows if r.action == "write"} == {"hub_catchment"}
    # the double-click books once
    again = client.post(
        reverse("access_book", args=[patient.pk]),
        {"slot": video[0].pk, "reason": "Evening review of asthma", "idempotency_key": "form-1"},
    )
    assert again.status_code == 302 and Appointment.objects.filter(patient=patient).count() == 1
    # the GP sees it on the patient page (at the GP's practice: book one there too)
    gp_patient = fresh_patient(at_gp_practice=True)
    client.post(
        reverse("access_book", args=[gp_patient.pk]),
        {"slot": video[1].pk, "reason": "Hub review"},
    )
    login("gp")
    page = client.get(reverse("patient", args=[gp_patient.pk])).content.decode()
    assert reverse("access_patient_appointments", args=[gp_patient.pk]) in page
    fragment = client.get(reverse("access_patient_appointments", args=[gp_patient.pk]))
    assert "Hub review" in fragment.content.decode()


def test_the_second_booker_sees_taken_and_the_next_free(client, login, hub):
    slots = slots_of(hub)
    book(Actor(user=User.objects.get(username="hub")), fresh_patient(), slots[0])
    gp_patient = fresh_patient(at_gp_practice=True)
    login("practice")
    response = client.post(
        reverse("access_book", args=[gp_patient.pk]), {"slot": slots[0].pk, "reason": "Rash"}
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert "just been booked by someone else" in text
    assert f"?slot={slots[1].pk}" in text
    assert not Appointment.objects.filter(patient=gp_patient).exists()


def test_booking_form_errors_write_nothing(client, login, hub):
    patient = fresh_patient(at_gp_practice=True)
    login("gp")
    slot = slots_of(hub)[0]
    response = client.post(reverse("access_book", args=[patient.pk]), {"slot": slot.pk})
    assert response.status_code == 400 and "Enter the reason" in response.content.decode()
    for bad in ({"slot": "abc", "reason": "x"}, {"slot": "", "reason": "x"}):
        assert client.post(reverse("access_book", args=[patient.pk]), bad).status_code == 400
    assert client.get(reverse("access_find"), {"date": "tomorrow"}).status_code == 400
    assert client.get(reverse("access_find"), {"mode": "carrier pigeon"}).status_code == 400
    assert not Appointment.objects.filter(patient=patient).exists()


def test_refusals(client, login, hub):
    slot = slots_of(hub)[0]
    # a role that cannot book, with a relationship
    patient = fresh_patient()
    login("social")
    assert (
        client.post(
            reverse("access_book", args=[patient.pk]), {"slot": slot.pk, "reason": "x"}
        ).status_code
        == 403
    )
    # a patient of another neighbourhood: the hub cannot book, and find says nothing
    stranger = patients()["stranger"]
    login("hub")
    assert (
        client.post(
            reverse("access_book", args=[stranger.pk]), {"slot": slot.pk, "reason": "x"}
        ).status_code
        == 403
    )
    found = client.get(reverse("access_find"), {"nhs_number": stranger.nhs_number})
    assert "You cannot book for a patient with that NHS number" in found.content.decode()
    assert stranger.family_name not in found.content.decode()
    # break-glass reads, never books
    login("pharmacist")
    client.post(
        reverse("break_glass", args=[stranger.pk]),
        {"reason_code": "urgent_care", "reason": "Seen at the hub out of hours with chest pain"},
    )
    assert (
        client.post(
            reverse("access_book", args=[stranger.pk]), {"slot": slot.pk, "reason": "x"}
        ).status_code
        == 403
    )
    # no direct care: no access pages
    login("commissioner")
    assert client.get(reverse("access_find")).status_code == 403
    assert not Appointment.objects.exists()


def test_day_list_and_the_hub_clinician_on_the_day(client, login, hub):
    slots = slots_of(hub)
    patient = fresh_patient()
    appt, _ = book(Actor(user=User.objects.get(username="practice")), patient, slots[0])
    login("hub")
    date = timezone.localtime(appt.start).date()
    before = AuditEvent.objects.count()
    page = client.get(reverse("access_day"), {"date": date.isoformat()})
    assert page.status_code == 200 and patient.nhs_number_display() in page.content.decode()
    assert AuditEvent.objects.count() == before + 1
    # days ahead: not yet a booking relationship, the record is refused
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    # on the day, shortly before: the record opens, the care-plan editor does not
    Appointment.objects.filter(pk=appt.pk).update(start=timezone.now() + dt.timedelta(minutes=30))
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 200
    assert client.get(reverse("care_plan_edit", args=[patient.pk])).status_code == 403
    # arrived, seen, finished from the day list; then the record closes again
    for status in ("arrived", "seen", "finished"):
        response = client.post(
            reverse("access_change", args=[patient.pk]),
            {"appointment": appt.pk, "status": status, "next": "day"},
        )
        assert response.status_code == 302
    appt.refresh_from_db()
    assert appt.status == "finished"
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 403
    # the day list is for hub staff
    login("gp")
    assert client.get(reverse("access_day")).status_code == 403
