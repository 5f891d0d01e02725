"""The patient's hub appointments on care's contact timeline: registered with
``care.timeline.register_timeline_source`` from ``AccessConfig.ready()`` (care sits below
access and never imports it). Every appointment shows, whatever its status (booked, arrived,
seen, finished, did not attend, cancelled), with the hub, the time and the status in words;
the timeline view is gated and audited by ``records.access.patient_view`` as before."""

from __future__ import annotations

from wraparound.apps.access.models import Appointment
from wraparound.apps.access.vocabulary import APPOINTMENT_STATUSES, MODES, SLOT_TYPES
from wraparound.apps.care.timeline import TimelineEntry, register_timeline_source

LABEL = "Hub appointment"


def hub_appointments(patient):
    for appt in (
        Appointment.objects.filter(patient=patient).select_related("hub").order_by("-start")
    ):
        detail = f"{MODES.get(appt.mode, appt.mode)}, {SLOT_TYPES.get(appt.slot_type, '')}"
        if appt.status.startswith("cancelled") and appt.late_cancellation:
            detail += " (late cancellation)"
        yield TimelineEntry(
            start=appt.start,
            end=appt.end,
            kind="hub_appointment",
            label=LABEL,
            org_name=appt.hub.name,
            detail=detail[:100],
            status=APPOINTMENT_STATUSES.get(appt.status, appt.status),
        )


def register() -> None:
    register_timeline_source("access.appointments", hub_appointments)
