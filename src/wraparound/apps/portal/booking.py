"""Booking, cancelling and rebooking hub appointments from the portal, through the access
app's one race-free booking function (``access.booking.book``, ``change_status``,
``rebook``) with the patient (or their proxy) as the booker.

What the portal adds: only slots released to patients (``Slot.released_to_patients_at``,
the hub's embargo rules), at most ``WRAPAROUND_PORTAL_MAX_APPOINTMENTS`` future appointments,
changes only up to the hub's cut-off (``late_cancellation_hours`` in
``data/access/appointment_length.toml``: later, the patient is asked to phone), and a
confirmation, cancellation or reminder through messaging.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Q
from django.utils import timezone

from wraparound import config
from wraparound.apps.access import booking
from wraparound.apps.access.models import Appointment, Slot
from wraparound.apps.access.rules import booking_rules
from wraparound.apps.access.standards import hours_band
from wraparound.apps.messaging.api import MessagingError, send_message
from wraparound.apps.messaging.models import Message
from wraparound.apps.records.models import AuditEvent

PortalBookingError = booking.BookingError


def how_to_change() -> str:
    """What a message says about changing the appointment: the portal's whole address (a
    message is read outside the app, so only an absolute link leads anywhere)."""
    portal = config.current().public_url("/portal/")
    return f"sign in to the patient portal at {portal}, or phone your practice"


@dataclasses.dataclass
class PatientActor(booking.Actor):
    """The access app's booker, as a patient (or proxy) in the portal: no staff user, no
    token; the booking organisation is the patient's practice; audited as the principal."""

    principal: object = None

    @property
    def owner(self) -> str:
        return f"portal:{self.principal.session.nhs_number}"[:40]

    @property
    def organisation(self):
        return self.principal.patient.practice

    def is_hub_staff(self, hub) -> bool:
        return False

    def may_overbook(self) -> bool:
        return False

    def audit(self, patient, action: str, what: str, outcome: str = "allowed") -> None:
        who = self.principal
        if who.is_proxy:
            what = f"{what} (as proxy #{who.proxy.pk})"
        AuditEvent.objects.create(
            username=who.username[:150],
            role=who.role,
            patient=patient,
            action=action,
            what=f"portal: {what}"[:200],
            basis=who.basis,
            outcome=outcome,
            method=getattr(self.request, "method", "") or "",
            path=self.request.get_full_path()[:300] if self.request is not None else "",
        )


# What the booking page lets a patient choose by when a slot starts: the seeds promise
# residents evening and weekend appointments, so those can be asked for alone. The bands are
# the access app's (``access.standards.hours_band``: evening from ``evening_from`` in
# data/access/capacity_standards.toml; weekends and England's bank holidays all day).
WHEN_CHOICES = {
    "any": ("Any time", None),
    "evenings-weekends": ("Weekday evenings and weekends", frozenset({"evening", "weekend"})),
}


def cutoff() -> dt.timedelta:
    return dt.timedelta(hours=booking_rules()["late_cancellation_hours"])


def open_slots(patient, now: dt.datetime | None = None, limit: int = 40, when: str = "any"):
    """Free slots released to patients at the hubs serving the patient's neighbourhood, that
    this patient can book: a patient whose stream needs two adjacent slots
    (``access.booking.slots_needed``) is offered a slot only when the one after it is free
    too, so the page never offers a time the booking would then refuse as taken. ``when``
    (a ``WHEN_CHOICES`` key) keeps only slots in those hours, so the first ``limit`` are the
    first evening or weekend times, not the first times of the day that happen to include
    none."""
    bands = WHEN_CHOICES[when][1]
    now = now or timezone.now()
    neighbourhood = patient.practice.parent_id if patient.practice_id else None
    candidates = (
        Slot.objects.filter(
            status="free",
            start__gt=now,
            released_to_patients_at__isnull=False,
            released_to_patients_at__lte=now,
            hub__neighbourhood_id=neighbourhood,
        )
        .select_related("hub", "site")
        .order_by("start", "pk")
    )
    out = []
    for slot in candidates.iterator(chunk_size=200):
        if bands is not None and hours_band(slot.start) not in bands:
            continue
        needed = booking.slots_needed(patient, slot)
        run = [slot] if needed == 1 else booking.adjacent_run(slot, needed)
        if len(run) == needed and all(s.status == "free" for s in run):
            out.append(slot)
            if len(out) == limit:
                break
    return out


def future(patient, now=None):
    now = now or timezone.now()
    return Appointment.objects.filter(
        patient=patient, start__gt=now, status__in=("booked", "arrived")
    )


def changeable(appt: Appointment, now=None) -> bool:
    now = now or timezone.now()
    return appt.status == "booked" and appt.start - now >= cutoff()


def _when(appt) -> str:
    return f"{timezone.localtime(appt.start):%A %-d %B %Y at %H:%M}"


def _place(appt) -> str:
    holds = appt.holds.select_related("slot__site").first()
    return f"{appt.hub}" + (f", {holds.slot.site}" if holds else "")


def notify(appt, template: str, purpose: str = "appointment", **extra) -> Message | None:
    values = {"place": _place(appt), "when": _when(appt), "how_to_change": how_to_change()}
    values.update(extra)
    try:
        return send_message(
            patient=appt.patient,
            template=template,
            personalisation=values,
            purpose=purpose,
            reference=f"APPT-{appt.pk}-{template}"[:64],
        )
    except MessagingError:
        return None


def book(actor: PatientActor, slot_id: int, key: str = "") -> Appointment:
    patient = actor.principal.patient
    now = timezone.now()
    slot = Slot.objects.filter(pk=slot_id).select_related("hub").first()
    neighbourhood = patient.practice.parent_id if patient.practice_id else None
    if slot is None or slot.hub.neighbourhood_id != neighbourhood:
        raise PortalBookingError("that appointment is not one you can book here")
    if slot.released_to_patients_at is None or slot.released_to_patients_at > now:
        raise PortalBookingError("that appointment is not yet open for patients to book")
    limit = config.current().portal_max_appointments
    if future(patient, now).count() >= limit:
        raise PortalBookingError(
            f"you already have {limit} appointments booked: cancel one to book another"
        )
    appt, created = booking.book(
        actor, patient, slot, reason="booked in the patient portal", idempotency_key=key
    )
    if created:
        notify(appt, "appointment_booked")
    return appt


def cancel(actor: PatientActor, appt: Appointment, reason: str) -> Appointment:
    if not changeable(appt):
        raise PortalBookingError(
            f"appointments can be changed here up to {booking_rules()['late_cancellation_hours']}"
            " hours before: please phone your practice"
        )
    appt = booking.change_status(actor, appt, "cancelled_patient", reason or "cancelled online")
    notify(appt, "appointment_cancelled", next_step="You can book another in the portal.")
    return appt


def rebook(actor: PatientActor, appt: Appointment, slot_id: int) -> Appointment:
    if not changeable(appt):
        raise PortalBookingError("this appointment is too close to change here: please phone")
    patient = actor.principal.patient
    now = timezone.now()
    slot = Slot.objects.filter(
        Q(pk=slot_id),
        released_to_patients_at__lte=now,
        hub__neighbourhood_id=patient.practice.parent_id if patient.practice_id else None,
    ).first()
    if slot is None:
        raise PortalBookingError("that appointment is not one you can book here")
    new = booking.rebook(actor, appt, slot, "rebooked by the patient online", by="patient")
    notify(new, "appointment_booked")
    return new


def send_reminders(now: dt.datetime | None = None) -> int:
    """The reminders due at ``now`` (``portal.due``, by ``data/portal/reminders.toml``), each
    decided once; how many were (sent, or recorded by messaging as not sent and why)."""
    from wraparound.apps.portal.due import send_reminders as send_due_reminders

    return sum(c["sent"] + c["not_sent"] for c in send_due_reminders(now).values())
