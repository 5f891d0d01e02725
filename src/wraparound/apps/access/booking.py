"""Booking, amending, moving through the lifecycle and cancelling appointments: the one
place that writes them, for the pages and the FHIR API alike.

Race-free in the database. A booking inserts its ``AppointmentSlot`` rows inside one
transaction; the partial unique index on the slot (one active, not-overbooked holder) refuses
the second of two bookings of the same slot, however the requests interleave, and the
transaction rolls back whole, so a long appointment holds both its slots or neither. On
PostgreSQL the slots are also locked (``select_for_update``, in id order so two bookers of
overlapping pairs cannot deadlock) so the loser waits and then sees the slot taken; on SQLite
the transaction starts ``IMMEDIATE`` (settings), which serialises writers. The index is what
decides in both.

Idempotency: a booking with a key is unique per booker (``idempotency_owner`` +
``idempotency_key``); a retry or double-click with the same key returns the appointment the
first made, even when the two arrive together (the loser of that race finds the winner's).

Every change writes an ``AppointmentVersion`` and an audit row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wraparound.apps.access.models import (
    Appointment,
    AppointmentSlot,
    AppointmentVersion,
    Hub,
    Slot,
)
from wraparound.apps.access.rules import booking_rules, length_for
from wraparound.apps.access.vocabulary import (
    ACTIVE_STATUSES,
    MODES,
    NEEDS,
    TRANSITIONS,
)
from wraparound.apps.records.models import AuditEvent


class BookingError(ValueError):
    """A booking or change refused, with the reason in plain words (nothing was written)."""


class SlotTaken(BookingError):
    """Someone else booked the slot first; ``alternatives`` are the next free slots."""

    def __init__(self, message: str, alternatives: list[Slot]):
        super().__init__(message)
        self.alternatives = alternatives


@dataclasses.dataclass
class Actor:
    """Who is booking: a signed-in user, or an API token of an organisation. ``request``
    (when there is one) gives the audit row its method and path."""

    user: object = None
    token: object = None
    request: object = None
    basis: str = ""
    gated: bool = False  # the request went through records' gate, which audits it once

    @property
    def owner(self) -> str:
        return f"user:{self.user.pk}" if self.user is not None else f"token:{self.token.pk}"

    @property
    def organisation(self):
        if self.token is not None:
            return self.token.organisation
        return self.user.service or self.user.scope_org

    def is_hub_staff(self, hub: Hub) -> bool:
        return self.user is not None and self.user.service_id == hub.organisation_id

    def may_overbook(self) -> bool:
        return self.user is not None and self.user.role_info.can_overbook

    def audit(self, patient, action: str, what: str, outcome: str = "allowed") -> None:
        """One audit row. Through ``records.audit`` shape, written directly so an API call
        (no signed-in user) names its token."""
        request = self.request
        if self.user is not None:
            username, role, user = self.user.username, self.user.role, self.user
        else:
            username, role, user = f"api-token:{self.token.name}"[:150], "", None
        AuditEvent.objects.create(
            user=user,
            username=username,
            role=role,
            patient=patient,
            action=action,
            what=what[:200],
            basis=self.basis,
            outcome=outcome,
            method=getattr(request, "method", "") or "",
            path=request.get_full_path()[:300] if request is not None else "",
        )


def stream_of(patient) -> str | None:
    """The patient's stream on the current risk register, when the registers app is
    installed (access depends on records only)."""
    if not django_apps.is_installed("wraparound.apps.registers"):
        return None
    entry = django_apps.get_model("registers", "RegisterEntry")
    return (
        entry.objects.filter(run__current=True, patient=patient)
        .values_list("stream", flat=True)
        .first()
    )


def slots_needed(patient, slot: Slot) -> int:
    """How many adjacent slots an appointment for ``patient`` starting at ``slot`` takes:
    the stream's rule, except that a ``long`` slot is long enough on its own."""
    if slot.slot_type == "long":
        return 1
    return length_for(stream_of(patient))["slots"]


def check_length(patient, slots: list[Slot]) -> None:
    """The stream rule for a booker who names the slots (the FHIR API): a patient whose
    stream needs two slots (``data/access/appointment_length.toml``) is refused one ordinary
    slot, with the adjacent slot to name too when there is a free one. The page applies the
    same rule by taking the adjacent slot itself (``slots_needed``)."""
    needed = slots_needed(patient, slots[0])
    if len(slots) >= needed:
        return
    stream = (stream_of(patient) or "").replace("_", " ")
    message = (
        f"a patient in the {stream} stream needs a long slot or {needed} adjacent slots "
        "booked as one appointment"
    )
    run = adjacent_run(slots[0], needed)
    if len(run) == needed and all(s.status == "free" for s in run):
        message += "; name " + " and ".join(f"Slot/{s.pk}" for s in run)
    raise BookingError(message)


def adjacent_run(first: Slot, count: int) -> list[Slot]:
    """``first`` and the slots after it in the same session, back to back (start = the
    previous one's end), ``count`` in all; fewer when the session has no more."""
    run = [first]
    while len(run) < count:
        nxt = (
            Slot.objects.filter(session_id=first.session_id, start=run[-1].end)
            .exclude(pk__in=[s.pk for s in run])
            .first()
            if first.session_id
            else None
        )
        if nxt is None:
            break
        run.append(nxt)
    return run


def bookable_for(actor: Actor, slot: Slot, now: dt.datetime) -> bool:
    """Released to this booker: hub staff see every slot, practices and API organisations
    from ``released_to_practices_at``."""
    if actor.user is not None and actor.is_hub_staff(slot.hub):
        return True
    return slot.released_to_practices_at is None or slot.released_to_practices_at <= now


def next_free(actor: Actor, slot: Slot, count: int = 5) -> list[Slot]:
    """The next free slots after ``slot`` at the same hub, same role and mode, released to
    this booker."""
    now = timezone.now()
    found = (
        Slot.objects.filter(
            hub_id=slot.hub_id,
            role=slot.role,
            mode=slot.mode,
            status="free",
            start__gte=max(slot.start, now),
        )
        .exclude(pk=slot.pk)
        .select_related("site", "hub")
        .order_by("start", "pk")
    )
    if not (actor.user is not None and actor.is_hub_staff(slot.hub)):
        found = found.filter(released_to_practices_at__lte=now)
    return list(found[:count])


def snapshot(appt: Appointment) -> dict:
    return {
        "status": appt.status,
        "start": appt.start.isoformat(),
        "end": appt.end.isoformat(),
        "slots": sorted(appt.holds.filter(active=True).values_list("slot_id", flat=True)),
        "reason": appt.reason,
        "mode": appt.mode,
        "reasonable_adjustments": appt.reasonable_adjustments,
        "interpreter": appt.interpreter,
        "interpreter_language": appt.interpreter_language,
        "need": appt.need,
        "cancel_reason": appt.cancel_reason,
        "late_cancellation": appt.late_cancellation,
        "overbooked": appt.overbooked,
        "booking_org": appt.booking_org_id,
    }


def _version(appt: Appointment, actor: Actor, change: str) -> None:
    AppointmentVersion.objects.create(
        appointment=appt,
        version=appt.version,
        by=actor.user,
        by_token=actor.token,
        change=change[:200],
        data=snapshot(appt),
    )


def _existing(actor: Actor, key: str) -> Appointment | None:
    if not key:
        return None
    return Appointment.objects.filter(idempotency_owner=actor.owner, idempotency_key=key).first()


def book(
    actor: Actor,
    patient,
    slot: Slot,
    *,
    reason: str = "",
    mode: str = "",
    reasonable_adjustments: str = "",
    interpreter: bool = False,
    interpreter_language: str = "",
    need: str = "routine",
    help_requested_at: dt.datetime | None = None,
    idempotency_key: str = "",
    overbook: bool = False,
    slots: int | None = None,
    pair: Slot | None = None,
    rebooked_from: Appointment | None = None,
    named: bool = False,
) -> tuple[Appointment, bool]:
    """Book ``patient`` into ``slot`` (and the next adjacent slot when the patient's
    stream needs two, or ``slots`` says so; or ``pair``, named by the caller). Returns
    (appointment, created): created is False when the idempotency key had already booked.
    Raises :class:`SlotTaken` when the slot (or its pair) has gone, :class:`BookingError`
    for anything else refused; nothing is written then. ``named``: the caller named the
    slots (the FHIR API), so fewer than the patient's stream needs is refused
    (``check_length``) rather than made up from the adjacent slot."""
    key = (idempotency_key or "").strip()[:100]
    if (found := _existing(actor, key)) is not None:
        return found, False
    now = timezone.now()
    if mode and mode not in MODES:
        raise BookingError(f"mode must be one of {', '.join(MODES)}")
    if need not in NEEDS:
        raise BookingError(f"need must be one of {', '.join(NEEDS)}")
    if overbook and not actor.may_overbook():
        raise BookingError("your role may not overbook a slot")
    if slot.start <= now:
        raise BookingError("that slot has already started")
    if slot.status == "blocked":
        raise BookingError("that slot is blocked")
    if not bookable_for(actor, slot, now):
        raise BookingError(
            f"that slot is not released to practices until "
            f"{timezone.localtime(slot.released_to_practices_at):%d %b %Y %H:%M}"
        )
    if named:
        check_length(patient, [slot] if pair is None else [slot, pair])
    count = 2 if pair is not None else (slots or slots_needed(patient, slot))
    if count not in (1, 2):
        raise BookingError("an appointment takes one slot or two adjacent slots")
    if pair is not None and (pair.start != slot.end or pair.hub_id != slot.hub_id):
        raise BookingError("two slots must be adjacent, at the same hub")
    run = [slot, pair] if pair is not None else adjacent_run(slot, count)
    if len(run) < count:
        raise SlotTaken(
            "this patient needs two adjacent slots and the session has none after this one",
            next_free(actor, slot),
        )
    try:
        with transaction.atomic():
            ids = sorted(s.pk for s in run)
            if connection.vendor == "postgresql":
                locked = {s.pk: s for s in Slot.objects.select_for_update().filter(pk__in=ids)}
            else:
                locked = {s.pk: s for s in Slot.objects.filter(pk__in=ids)}
            taken = any(locked[pk].status != "free" for pk in ids)
            if taken and not overbook:
                raise IntegrityError("taken")  # fast refusal; the index is the real rule
            overbook = overbook and taken  # a free slot is simply booked
            appt = Appointment.objects.create(
                patient=patient,
                hub_id=slot.hub_id,
                booked_by=actor.user,
                api_token=actor.token,
                booking_org=actor.organisation,
                start=run[0].start,
                end=run[-1].end,
                reason=reason[:500],
                mode=mode or slot.mode,
                slot_type=slot.slot_type,
                reasonable_adjustments=reasonable_adjustments,
                interpreter=interpreter,
                interpreter_language=interpreter_language[:60],
                need=need,
                help_requested_at=help_requested_at,
                overbooked=overbook,
                idempotency_key=key,
                idempotency_owner=actor.owner if key else "",
                rebooked_from=rebooked_from,
            )
            AppointmentSlot.objects.bulk_create(
                [AppointmentSlot(appointment=appt, slot_id=pk, overbook=overbook) for pk in ids]
            )
            Slot.objects.filter(pk__in=ids).update(status="booked")
            _version(appt, actor, "booked" + (" (overbooked)" if overbook else ""))
            # A booking creates a relationship (the hub's staff, around the appointment):
            # audited as a grant, as the care team and the MDT agenda are.
            actor.audit(
                patient,
                "grant",
                f"relationship booking granted to {slot.hub} staff: appointment #{appt.pk} "
                f"{timezone.localtime(appt.start):%Y-%m-%d %H:%M} ({count} slot"
                f"{'s' if count > 1 else ''})" + (" OVERBOOKED" if overbook else ""),
            )
    except IntegrityError:
        if (found := _existing(actor, key)) is not None:
            return found, False
        taken = SlotTaken("that slot has just been booked by someone else", next_free(actor, slot))
        raise taken from None
    return appt, True


def change_status(actor: Actor, appt: Appointment, status: str, reason: str = "") -> Appointment:
    """Move ``appt`` along its lifecycle. Cancelling needs a reason, frees the slots and
    records a cancellation under ``late_cancellation_hours`` before the start as late."""
    cancelling = status.startswith("cancelled")
    reason = (reason or "").strip()
    if cancelling and not reason:
        raise BookingError("a cancellation needs a reason")
    now = timezone.now()
    with transaction.atomic():
        appt = Appointment.objects.select_for_update().get(pk=appt.pk)
        if status not in TRANSITIONS.get(appt.status, set()):
            raise BookingError(
                f"an appointment that is {appt.get_status_display().lower()} cannot become "
                f"{status.replace('_', ' ')}"
            )
        appt.status = status
        stamp = {"arrived": "arrived_at", "seen": "seen_at", "finished": "finished_at"}
        if status in stamp:
            setattr(appt, stamp[status], now)
        if cancelling:
            appt.cancelled_at = now
            appt.cancel_reason = reason[:300]
            hours = booking_rules()["late_cancellation_hours"]
            appt.late_cancellation = appt.start - now < dt.timedelta(hours=hours)
            slot_ids = list(appt.holds.filter(active=True).values_list("slot_id", flat=True))
            appt.holds.filter(active=True).update(active=False)
            still = AppointmentSlot.objects.filter(slot_id__in=slot_ids, active=True)
            Slot.objects.filter(pk__in=slot_ids).exclude(pk__in=still.values("slot_id")).update(
                status="free"
            )
        appt.version += 1
        appt.save()
        what = f"appointment #{appt.pk} {status.replace('_', ' ')}"
        if cancelling:
            what += f" ({'late, ' if appt.late_cancellation else ''}{reason})"
        _version(appt, actor, what)
        if not actor.gated:
            actor.audit(appt.patient, "write", what)
        if status in ("finished", "did_not_attend") or cancelling:
            actor.audit(
                appt.patient, "end", f"relationship booking ended for {appt.hub} staff: {what}"
            )
    return appt


AMENDABLE = ("reason", "reasonable_adjustments", "interpreter", "interpreter_language")


def amend(actor: Actor, appt: Appointment, **changes) -> Appointment:
    """Change what the appointment is for or needs (not its time: rebook for that)."""
    unknown = set(changes) - set(AMENDABLE)
    if unknown:
        raise BookingError(f"cannot amend {', '.join(sorted(unknown))}")
    if appt.status not in ACTIVE_STATUSES:
        raise BookingError("a closed appointment cannot be amended")
    with transaction.atomic():
        appt = Appointment.objects.select_for_update().get(pk=appt.pk)
        changed = [k for k, v in changes.items() if getattr(appt, k) != v]
        if not changed:
            return appt
        for k in changed:
            setattr(appt, k, changes[k])
        appt.version += 1
        appt.save()
        what = f"appointment #{appt.pk} amended: {', '.join(changed)}"
        _version(appt, actor, what)
        if not actor.gated:
            actor.audit(appt.patient, "write", what)
    return appt


def rebook(actor: Actor, appt: Appointment, slot: Slot, reason: str, by: str = "practice"):
    """Cancel ``appt`` and book the patient into ``slot``, linked by ``rebooked_from``,
    all or nothing."""
    with transaction.atomic():
        change_status(actor, appt, f"cancelled_{by}", reason or "rebooked")
        new, _ = book(
            actor,
            appt.patient,
            slot,
            reason=appt.reason,
            mode=appt.mode,
            reasonable_adjustments=appt.reasonable_adjustments,
            interpreter=appt.interpreter,
            interpreter_language=appt.interpreter_language,
            need=appt.need,
            help_requested_at=appt.help_requested_at,
            slots=appt.holds.count() or None,
            rebooked_from=appt,
        )
    return new
