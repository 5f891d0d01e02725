"""The relationships the access app holds the records of, registered with the one
relationship model (``records.relationships``) from ``AccessConfig.ready()``:

``booking``        a hub appointment gives the hub's staff (users whose ``service`` is the
                   hub's organisation) a relationship with the patient from
                   ``access_minutes_before`` the appointment starts
                   (``data/access/appointment_length.toml``) while it is booked, arrived or
                   seen (finished, did not attend and cancelled end it), and never past the
                   kind's window (``[kind.booking]`` ``days_after`` the appointment's day,
                   applied by the gate): read what the appointment needs; no
                   writes to the care plan or the case (the kind's actions in
                   ``data/relationships.toml``). The warehouse's bookings (records' provider,
                   ``records.Referral``) stay a second source of the same kind.
``hub_catchment``  hub staff and clinicians may book and record an appointment's arrival,
                   outcome or cancellation (not read) for any patient registered at a practice
                   in their hub's neighbourhood (the change view keeps them to their own
                   hub's appointments).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from wraparound.apps.access.models import Appointment, Hub
from wraparound.apps.access.rules import booking_rules
from wraparound.apps.records.relationships import Relationship, register_provider


def hub_booking(user, patient, now):
    if not user.service_id:
        return
    before = dt.timedelta(minutes=booking_rules()["access_minutes_before"])
    for appt in Appointment.objects.filter(
        patient=patient,
        hub__organisation_id=user.service_id,
        status__in=("booked", "arrived", "seen"),
        start__lte=now + before,
    ).select_related("hub"):
        yield Relationship(
            "booking",
            source=f"appointment at {appt.hub} on {appt.start:%Y-%m-%d %H:%M} (#{appt.pk})",
            source_basis="hub booking",
            start=appt.start - before,
            on=timezone.localdate(appt.start),  # the gate ends it days_after this day
        )


def hub_catchment(user, patient, now):
    if not user.service_id or not patient.practice_id:
        return
    hub = Hub.objects.filter(organisation_id=user.service_id).first()
    if hub and patient.practice.parent_id == hub.neighbourhood_id:
        yield Relationship(
            "hub_catchment",
            source=f"registered at {patient.practice}, in {hub}'s neighbourhood",
            source_basis="registration feed",
        )


def register() -> None:
    register_provider("booking", hub_booking)
    register_provider("hub_catchment", hub_catchment)
