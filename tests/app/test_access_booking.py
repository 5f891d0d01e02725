"""Booking across practices (issue 13): the lifecycle, versions and audit rows, late
cancellation, rebooking, the stream rule (a high-needs patient takes two adjacent slots as
one appointment), embargo, idempotency, overbooking as an audited permission, the slot
taken with the next free ones offered, and the hub clinician's booking relationship window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from worlds import fresh_patient, hub_open_day, hub_session

from wraparound.apps.access.booking import (
    Actor,
    BookingError,
    SlotTaken,
    amend,
    book,
    change_status,
    rebook,
)
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import (
    Appointment,
    AppointmentSlot,
    AppointmentVersion,
    Slot,
)
from wraparound.apps.records import relationships
from wraparound.apps.records.models import AuditEvent, Organisation, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def make_hub_with_slots(days_ahead=3, release=24 * 14, slot_type="routine"):
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, days_ahead, "10:00", "11:00")
    hub_session(
        hub,
        day,
        "10:00",
        "11:00",
        clinician=hub_user,
        slot_type=slot_type,
        release_to_practices_hours=release,
    )
    generate_slots(hub, day, weeks=1)
    return hub, list(Slot.objects.filter(hub=hub).order_by("start"))


def actor(username):
    return Actor(user=User.objects.get(username=username))


def high_needs(patient):
    RegisterEntry.objects.create(
        run=RegisterRun.objects.get(current=True),
        patient=patient,
        practice=patient.practice,
        neighbourhood=patient.neighbourhood,
        score=0.9,
        risk_band="high",
        percentile=99.0,
        stream="high_needs",
    )


def test_lifecycle_versions_and_audit():
    hub, slots = make_hub_with_slots()
    patient = fresh_patient()  # at another practice of the neighbourhood
    staff = actor("hub")
    appt, created = book(staff, patient, slots[0], reason="Chest infection", interpreter=True)
    assert created and appt.status == "booked" and appt.booking_org == hub.organisation
    assert Slot.objects.get(pk=slots[0].pk).status == "booked"
    for status in ("arrived", "seen", "finished"):
        appt = change_status(staff, appt, status)
    assert appt.finished_at and appt.seen_at and appt.arrived_at
    versions = list(AppointmentVersion.objects.filter(appointment=appt))
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert [v.data["status"] for v in versions] == ["booked", "arrived", "seen", "finished"]
    rows = AuditEvent.objects.filter(patient=patient, username="hub")
    assert sorted(rows.values_list("action", flat=True)) == [
        "end",  # the booking relationship ends when the encounter closes
        "grant",  # booking grants the hub's staff a relationship
        "write",
        "write",
        "write",
    ]
    with pytest.raises(BookingError, match="cannot become"):
        change_status(staff, appt, "arrived")
    assert AppointmentVersion.objects.filter(appointment=appt).count() == 4


def test_cancellation_late_and_rebooked():
    _hub, slots = make_hub_with_slots()
    patient = fresh_patient()
    staff = actor("hub")
    appt, _ = book(staff, patient, slots[0])
    # an appointment starting in two hours
    Appointment.objects.filter(pk=appt.pk).update(start=timezone.now() + dt.timedelta(hours=2))
    with pytest.raises(BookingError, match="needs a reason"):
        change_status(staff, appt, "cancelled_patient", "")
    appt = change_status(staff, appt, "cancelled_patient", "Feeling better")
    assert appt.late_cancellation  # under 24 hours before
    assert Slot.objects.get(pk=slots[0].pk).status == "free"
    again, _ = book(staff, patient, slots[0])
    new = rebook(staff, again, slots[1], "Patient asked for later")
    assert new.rebooked_from == again
    again.refresh_from_db()
    assert again.status == "cancelled_practice"
    assert Slot.objects.get(pk=slots[0].pk).status == "free"
    assert Slot.objects.get(pk=slots[1].pk).status == "booked"


def test_early_cancellation_is_not_late():
    _hub, slots = make_hub_with_slots(days_ahead=5)
    appt, _ = book(actor("hub"), fresh_patient(), slots[0])
    appt = change_status(actor("hub"), appt, "cancelled_practice", "Clinician ill")
    assert not appt.late_cancellation


def test_amend_is_versioned():
    _hub, slots = make_hub_with_slots()
    appt, _ = book(actor("hub"), fresh_patient(), slots[0])
    appt = amend(actor("hub"), appt, reasonable_adjustments="Wheelchair user", interpreter=True)
    assert appt.version == 2
    assert (
        AppointmentVersion.objects.get(appointment=appt, version=2).data["reasonable_adjustments"]
        == "Wheelchair user"
    )
    with pytest.raises(BookingError):
        amend(actor("hub"), appt, start=timezone.now())


def test_high_needs_patient_takes_two_adjacent_slots_as_one_appointment():
    _hub, slots = make_hub_with_slots()
    patient = fresh_patient()
    high_needs(patient)
    appt, _ = book(actor("hub"), patient, slots[1])
    held = list(appt.holds.order_by("slot__start").values_list("slot_id", flat=True))
    assert held == [slots[1].pk, slots[2].pk]
    assert appt.end - appt.start == dt.timedelta(minutes=30)
    # the last slot of the session has no neighbour: refused whole, nothing written
    other = fresh_patient()
    high_needs(other)
    before = Appointment.objects.count()
    with pytest.raises(SlotTaken, match="two adjacent"):
        book(actor("hub"), other, slots[3])
    assert Appointment.objects.count() == before
    assert Slot.objects.get(pk=slots[3].pk).status == "free"
    # a pair whose second slot is taken is refused whole: no half booking
    third = fresh_patient()
    high_needs(third)
    with pytest.raises(SlotTaken):
        book(actor("hub"), third, slots[0])  # slots[1] is held
    assert Slot.objects.get(pk=slots[0].pk).status == "free"
    assert not AppointmentSlot.objects.filter(slot=slots[0]).exists()


def test_taken_slot_offers_the_next_free_ones():
    _hub, slots = make_hub_with_slots()
    book(actor("hub"), fresh_patient(), slots[0])
    with pytest.raises(SlotTaken) as taken:
        book(actor("practice"), fresh_patient(at_gp_practice=True), slots[0])
    assert [s.pk for s in taken.value.alternatives] == [s.pk for s in slots[1:]]


def test_the_database_refuses_a_second_active_hold():
    """The rule is the index, not the Python check: a hold written around the service is
    refused by the database."""
    from django.db import IntegrityError, transaction

    _hub, slots = make_hub_with_slots()
    appt, _ = book(actor("hub"), fresh_patient(), slots[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentSlot.objects.create(appointment=appt, slot=slots[0])


def test_idempotency_key_books_once_per_booker():
    _hub, slots = make_hub_with_slots()
    patient = fresh_patient()
    first, created = book(actor("hub"), patient, slots[0], idempotency_key="click-1")
    second, again = book(actor("hub"), patient, slots[0], idempotency_key="click-1")
    assert created and not again and first.pk == second.pk
    assert Appointment.objects.filter(patient=patient).count() == 1
    # the key is the booker's: someone else's same key is a different booking
    with pytest.raises(SlotTaken):
        book(actor("practice"), patient, slots[0], idempotency_key="click-1")


def test_overbooking_is_a_permission_and_audited():
    hub_staff = User.objects.create(
        username="hubdesk",
        role="hub_staff",
        scope="neighbourhood",
        scope_org=User.objects.get(username="hub").scope_org,
        service=User.objects.get(username="hub").service,
    )
    _hub, slots = make_hub_with_slots()
    book(actor("hub"), fresh_patient(), slots[0])
    with pytest.raises(BookingError, match="may not overbook"):
        book(actor("hub"), fresh_patient(), slots[0], overbook=True)
    patient = fresh_patient()
    appt, _ = book(Actor(user=hub_staff), patient, slots[0], overbook=True)
    assert appt.overbooked
    assert AppointmentSlot.objects.filter(slot=slots[0], active=True).count() == 2
    row = AuditEvent.objects.get(patient=patient, username="hubdesk")
    assert "OVERBOOKED" in row.what
    # without asking, even the overbooking role is refused a taken slot
    with pytest.raises(SlotTaken):
        book(Actor(user=hub_staff), fresh_patient(), slots[0])


def test_embargo_holds_slots_back_from_practices_not_hub_staff():
    _hub, slots = make_hub_with_slots(days_ahead=5, release=48)
    gp_patient = fresh_patient(at_gp_practice=True)
    with pytest.raises(BookingError, match="not released to practices until"):
        book(actor("practice"), gp_patient, slots[0])
    assert not Appointment.objects.filter(patient=gp_patient).exists()
    appt, _ = book(actor("hub"), gp_patient, slots[0])
    assert appt.pk


def test_hub_clinician_booking_relationship_window():
    _hub, slots = make_hub_with_slots(days_ahead=3)
    patient = fresh_patient()
    clinician = User.objects.get(username="hub")
    appt, _ = book(actor("practice"), fresh_patient(at_gp_practice=True), slots[1])
    appt, _ = book(actor("hub"), patient, slots[0])
    kinds = {r.kind for r in relationships.current(clinician, patient)}
    assert "booking" not in kinds  # three days ahead: not yet
    assert "hub_catchment" in kinds  # may book, not read
    assert relationships.first_allowing(clinician, patient, "read") is None
    soon = appt.start - dt.timedelta(minutes=30)
    assert relationships.first_allowing(clinician, patient, "read", now=soon).kind == "booking"
    rel = relationships.first_allowing(clinician, patient, "care_plan.write", now=soon)
    assert rel is None
    change_status(actor("hub"), appt, "arrived")
    change_status(actor("hub"), appt, "seen")
    change_status(actor("hub"), appt, "finished")
    assert relationships.first_allowing(clinician, patient, "read", now=soon) is None


def test_hub_catchment_is_the_neighbourhood_only():
    from worlds import patients

    stranger = patients()["stranger"]
    clinician = User.objects.get(username="hub")
    assert relationships.first_allowing(clinician, stranger, "booking.create") is None
    assert Organisation.objects.get(pk=clinician.service_id).kind == "hub"
