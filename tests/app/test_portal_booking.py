# ruff: noqa: F811 (portal_provider, the fixture imported from portal_world, is each test's argument)
"""Booking, cancelling and rebooking hub appointments from the portal, through the access
app's one race-free booking function: only slots released to patients, at most
WRAPAROUND_PORTAL_MAX_APPOINTMENTS future ones, changes up to the hub's cut-off, and a
confirmation, cancellation and reminder through messaging. Refusals write nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from portal_world import portal_provider, sign_in  # noqa: F401 (the fixture)
from worlds import evening_slots

from wraparound.apps.access.models import Appointment, Slot
from wraparound.apps.messaging.models import Message
from wraparound.apps.portal import booking
from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_book_cancel_and_rebook_with_messages(client, portal_provider):
    a = portal_provider.patients["a"]
    hub, slots = evening_slots()
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/appointments/book").content.decode()
    assert f'value="{slots[0].pk}"' in page
    response = client.post("/portal/appointments/book", {"slot": slots[0].pk, "key": "k1"})
    assert response.status_code == 302
    appt = Appointment.objects.get(patient=a, status="booked")
    assert appt.booked_by is None and appt.booking_org_id == a.practice_id
    assert appt.idempotency_owner == f"portal:{a.nhs_number}"
    assert timezone.localtime(appt.start).hour == 18
    # A double click (same form key) books once.
    client.post("/portal/appointments/book", {"slot": slots[0].pk, "key": "k1"})
    assert Appointment.objects.filter(patient=a, status="booked").count() == 1
    assert Message.objects.filter(patient=a, template="appointment_booked").count() == 1
    assert AuditEvent.objects.filter(patient=a, role="patient", action="grant").exists()
    assert "18:00" in client.get(f"/portal/appointments/{appt.pk}").content.decode()
    # Rebook to a later slot: the first is cancelled by the patient, the new one linked.
    free = [s for s in Slot.objects.filter(hub=hub, status="free").order_by("start")]
    response = client.post(
        f"/portal/appointments/{appt.pk}/change", {"action": "rebook", "slot": free[-3].pk}
    )
    assert response.status_code == 302, response.content.decode()[-800:]
    appt.refresh_from_db()
    new = Appointment.objects.get(patient=a, status="booked")
    assert appt.status == "cancelled_patient" and new.rebooked_from_id == appt.pk
    # Cancel it.
    response = client.post(
        f"/portal/appointments/{new.pk}/change", {"action": "cancel", "reason": "feeling better"}
    )
    assert response.status_code == 302
    new.refresh_from_db()
    assert new.status == "cancelled_patient" and new.cancel_reason == "feeling better"
    assert Message.objects.filter(patient=a, template="appointment_cancelled").exists()
    assert Slot.objects.get(pk=free[-3].pk).status == "free"


def test_embargo_limit_and_cut_off(client, portal_provider, monkeypatch):
    a = portal_provider.patients["a"]
    _hub, slots = evening_slots(days_ahead=10, patients_hours=48)  # not yet released
    sign_in(client, portal_provider, "a")
    assert f'value="{slots[0].pk}"' not in client.get("/portal/appointments/book").content.decode()
    response = client.post("/portal/appointments/book", {"slot": slots[0].pk, "key": "e"})
    assert response.status_code == 400 and b"not yet open" in response.content
    assert not Appointment.objects.filter(patient=a).exists()
    # At most N future appointments.
    monkeypatch.setenv("WRAPAROUND_PORTAL_MAX_APPOINTMENTS", "1")
    _, open_slots = evening_slots(days_ahead=2)
    assert (
        client.post(
            "/portal/appointments/book", {"slot": open_slots[0].pk, "key": "m1"}
        ).status_code
        == 302
    )
    response = client.post("/portal/appointments/book", {"slot": open_slots[4].pk, "key": "m2"})
    assert response.status_code == 400 and b"already have 1" in response.content
    assert Appointment.objects.filter(patient=a).count() == 1
    # Inside the hub's cut-off, no change online: the page says phone; a POST is refused.
    appt = Appointment.objects.get(patient=a)
    Appointment.objects.filter(pk=appt.pk).update(
        start=timezone.now() + booking.cutoff() - dt.timedelta(hours=1)
    )
    assert b"phone your practice" in client.get("/portal/appointments").content
    response = client.post(f"/portal/appointments/{appt.pk}/change", {"action": "cancel"})
    assert response.status_code == 400
    appt.refresh_from_db()
    assert appt.status == "booked"
    # Bad input: a clear 400, nothing booked.
    assert client.post("/portal/appointments/book", {"slot": "x"}).status_code == 400
    assert client.post("/portal/appointments/book", {"slot": "999999"}).status_code == 400


def test_reminder_sent_once(client, portal_provider):
    a = portal_provider.patients["a"]
    _, slots = evening_slots(days_ahead=1)
    sign_in(client, portal_provider, "a")
    client.post("/portal/appointments/book", {"slot": slots[0].pk, "key": "r"})
    appt = Appointment.objects.get(patient=a)
    at = appt.start - dt.timedelta(hours=20)
    assert booking.send_reminders(now=at) == 1
    assert booking.send_reminders(now=at) == 0
    assert Message.objects.filter(patient=a, template="appointment_reminder").count() == 1


def test_a_patient_needing_two_slots_is_offered_only_times_it_can_book(client, portal_provider):
    """A high-needs patient's appointment takes two adjacent slots (the stream rule in
    data/access/appointment_length.toml): the page offers a time only when the slot after it
    is free too, so booking what is offered never fails as 'just booked by someone else'."""
    from wraparound.apps.registers.models import RegisterEntry, RegisterRun

    a = portal_provider.patients["a"]
    run = RegisterRun.objects.filter(current=True).first() or RegisterRun.objects.create(
        run_id="portal-test", index_date=timezone.localdate(), current=True
    )
    RegisterEntry.objects.filter(patient=a).delete()
    RegisterEntry.objects.create(
        run=run,
        patient=a,
        practice=a.practice,
        neighbourhood=a.practice.parent,
        score=0.9,
        risk_band="high",
        percentile=99.0,
        stream="high_needs",
    )
    _hub, slots = evening_slots(days_ahead=2)
    taken = slots[1::2]  # every other slot booked: no free slot has a free one after it
    Slot.objects.filter(pk__in=[s.pk for s in taken]).update(status="booked")
    assert booking.open_slots(a) == []
    Slot.objects.filter(pk=slots[3].pk).update(status="free")  # slots 2 and 3 free together
    offered = booking.open_slots(a)
    assert [s.pk for s in offered if s.hub_id == _hub.pk][:1] == [slots[2].pk]
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/appointments/book").content.decode()
    assert f'value="{slots[2].pk}"' in page and f'value="{slots[0].pk}"' not in page
    response = client.post("/portal/appointments/book", {"slot": slots[2].pk, "key": "two"})
    assert response.status_code == 302
    appt = Appointment.objects.get(patient=a)
    assert sorted(h.slot_id for h in appt.holds.all()) == [slots[2].pk, slots[3].pk]


def test_evenings_and_weekends_choice_offers_only_those_hours(client, portal_provider):
    """The seeds promise residents evening and weekend appointments: the booking page's
    "Weekday evenings and weekends" choice offers only slots in the access app's evening
    (from 18:30, data/access/capacity_standards.toml) and weekend bands, however many
    daytime slots come first; an unknown choice is a clear 400 that books nothing."""
    from wraparound.apps.access.standards import hours_band

    a = portal_provider.patients["a"]
    _hub, slots = evening_slots(days_ahead=2)  # 18:00-20:00: 18:00 and 18:15 are not evening
    assert [hours_band(s.start) for s in slots[:3]] == ["core", "core", "evening"]
    offered = booking.open_slots(a, limit=1000, when="evenings-weekends")
    assert offered and {hours_band(s.start) for s in offered} <= {"evening", "weekend"}
    ids = {s.pk for s in offered}
    assert slots[2].pk in ids and slots[0].pk not in ids and slots[1].pk not in ids
    assert slots[0].pk in {s.pk for s in booking.open_slots(a, limit=1000)}
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/appointments/book?when=evenings-weekends").content.decode()
    assert 'value="evenings-weekends" checked' in page
    assert f'value="{slots[0].pk}"' not in page
    response = client.get("/portal/appointments/book?when=mornings")
    assert response.status_code == 400 and b"weekday evenings and weekends" in response.content
    response = client.post(
        "/portal/appointments/book", {"slot": slots[2].pk, "key": "w", "when": "mornings"}
    )
    assert response.status_code == 400
    assert not Appointment.objects.filter(patient=a).exists()
    response = client.post(
        "/portal/appointments/book",
        {"slot": slots[2].pk, "key": "w", "when": "evenings-weekends"},
    )
    assert response.status_code == 302
    assert Appointment.objects.get(patient=a).start == slots[2].start
