"""The access pages: a hub's rota, "find a slot", booking a slot for a patient, the hub
clinician's day list, and a patient's hub appointments (a fragment of the patient page).

Booking and changing an appointment are patient-record actions and go through the one gate
(``records.access.patient_view``): ``booking.create`` (held under ``registered``,
``caseload``, ``register`` or, for hub staff, ``hub_catchment``) with the role flag
``can_book``; ``appointment.update`` for arrival, outcome and cancellation. The rota and
the slot search show no patient; the day list does, and is audited once a page.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import BadRequest
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.access import booking
from wraparound.apps.access.booking import Actor, BookingError, SlotTaken
from wraparound.apps.access.generate import LONDON, local
from wraparound.apps.access.models import Appointment, Hub, SessionTemplate, Site, Slot
from wraparound.apps.access.vocabulary import (
    APPOINTMENT_STATUSES,
    HCP_ROLES,
    MODES,
    NEEDS,
    SLOT_TYPES,
    TRANSITIONS,
)
from wraparound.apps.records import audit, relationships
from wraparound.apps.records.access import patient_view
from wraparound.apps.records.models import Organisation, Patient
from wraparound.web.bad_request import parse_choice, parse_date, parse_int

PAGE = 50
LENGTHS = {"15": "Up to 15 minutes", "30": "30 minutes or more"}


def _refuse(request, what: str, why: str):
    """Refused through records' audited denial: a 403 page saying why and one ``denied``
    audit row naming the user and the page (a bare PermissionDenied left no trace)."""
    audit.record(request, action="denied", what=f"{what}: {why}", outcome="denied")
    return render(request, "access/refused.html", {"why": why}, status=403)


def _staff_only(request, what: str):
    """The refusal for a role without direct care, or None."""
    if not request.user.role_info.direct_care:
        return _refuse(request, what, "the access pages are for direct-care staff")
    return None


def _hubs_for(user):
    """Hubs a user works with: their own hub, or those of their neighbourhood(s)."""
    hubs = Hub.objects.select_related("neighbourhood", "organisation")
    if user.service_id and hubs.filter(organisation_id=user.service_id).exists():
        return hubs.filter(organisation_id=user.service_id) | hubs.filter(
            neighbourhood_id=user.scope_org.parent_id or user.scope_org_id
        )
    if user.scope == "practice":
        return hubs.filter(neighbourhood_id=user.scope_org.parent_id)
    if user.scope == "neighbourhood":
        return hubs.filter(neighbourhood_id=user.scope_org_id)
    return hubs


def rota(request, hub_id: int):
    """A hub's sessions for one week (from ``week``, a Monday by default), with how many
    slots are free and booked."""
    if refused := _staff_only(request, "hub rota"):
        return refused
    hub = get_object_or_404(Hub, pk=hub_id)
    today = timezone.localdate()
    first = parse_date(request.GET.get("week"), "week") or today - dt.timedelta(
        days=today.weekday()
    )
    days = []
    for i in range(7):
        date = first + dt.timedelta(days=i)
        start, end = local(date, dt.time()), local(date + dt.timedelta(days=1), dt.time())
        slots = Slot.objects.filter(hub=hub, start__gte=start, start__lt=end)
        rows = []
        sessions = SessionTemplate.objects.filter(hub=hub, weekday=date.weekday())
        for s in sessions.select_related("site", "clinician").order_by("start"):
            mine = slots.filter(session=s)
            total = mine.count()
            if not total:
                continue
            rows.append(
                {
                    "session": s,
                    "free": mine.filter(status="free").count(),
                    "booked": mine.filter(status="booked").count(),
                    "total": total,
                }
            )
        days.append({"date": date, "rows": rows})
    return render(
        request,
        "access/rota.html",
        {
            "hub": hub,
            "days": days,
            "previous": first - dt.timedelta(days=7),
            "next": first + dt.timedelta(days=7),
            "first": first,
            "hubs": _hubs_for(request.user),
        },
    )


def find_slot(request):
    """Free slots, filtered by neighbourhood, site, date, mode, role and length, released to
    the user (hub staff see embargoed slots of their own hub). ``patient`` carries the
    patient being booked for; ``nhs_number`` finds them (only when the user may book for
    them, and the refusal says nothing about who they are)."""
    if refused := _staff_only(request, "find a slot"):
        return refused
    g = request.GET
    neighbourhood = parse_choice(
        g.get("neighbourhood"),
        "neighbourhood",
        set(Organisation.objects.filter(kind="neighbourhood").values_list("pk", flat=True)),
    )
    site = parse_int(g.get("site"), "site")
    date = parse_date(g.get("date"), "date")
    mode = parse_choice(g.get("mode"), "mode", MODES)
    role = parse_choice(g.get("role"), "role", HCP_ROLES)
    length = parse_choice(g.get("length"), "length", LENGTHS)
    page = parse_int(g.get("page"), "page") or 1
    patient = None
    patient_error = ""
    if pk := parse_int(g.get("patient"), "patient"):
        patient = Patient.objects.filter(pk=pk).first()
    elif number := "".join((g.get("nhs_number") or "").split()):
        if not (number.isascii() and number.isdigit() and len(number) == 10):
            patient_error = "Enter a 10-digit NHS number"
        else:
            patient = Patient.objects.filter(nhs_number=number).first()
    if (
        patient is not None
        and relationships.first_allowing(request.user, patient, "booking.create") is None
    ):
        patient = None
        patient_error = "You cannot book for a patient with that NHS number"
    elif patient is None and g.get("nhs_number") and not patient_error:
        patient_error = "You cannot book for a patient with that NHS number"

    now = timezone.now()
    hubs = Hub.objects.all()
    if neighbourhood:
        hubs = hubs.filter(neighbourhood_id=neighbourhood)
    slots = Slot.objects.filter(hub__in=hubs, status="free", start__gt=now)
    own = request.user.service_id
    if own:
        from django.db.models import Q

        slots = slots.filter(Q(hub__organisation_id=own) | Q(released_to_practices_at__lte=now))
    else:
        slots = slots.filter(released_to_practices_at__lte=now)
    if site:
        slots = slots.filter(site_id=site)
    if date:
        slots = slots.filter(
            start__gte=local(date, dt.time()), start__lt=local(date + dt.timedelta(1), dt.time())
        )
    if mode:
        slots = slots.filter(mode=mode)
    if role:
        slots = slots.filter(role=role)
    if length == "30":
        slots = slots.filter(slot_type="long")
    elif length == "15":
        slots = slots.exclude(slot_type="long")
    slots = slots.select_related("site", "hub", "session__clinician").order_by("start", "pk")
    shown = list(slots[(page - 1) * PAGE : page * PAGE + 1])
    if patient is not None:
        audit.record(request, patient=patient, action="read", what="find a slot for patient")
    return render(
        request,
        "access/find.html",
        {
            "slots": shown[:PAGE],
            "more": len(shown) > PAGE,
            "page": page,
            "neighbourhoods": Organisation.objects.filter(kind="neighbourhood").order_by("name"),
            "sites": Site.objects.select_related("hub").order_by("hub__name", "name"),
            "modes": MODES,
            "roles": HCP_ROLES,
            "lengths": LENGTHS,
            "types": SLOT_TYPES,
            "f": {
                "neighbourhood": neighbourhood,
                "site": site,
                "date": date.isoformat() if date else "",
                "mode": mode,
                "role": role,
                "length": length,
            },
            "patient": patient,
            "book_url": reverse("access_book", args=[patient.pk]) if patient else "",
            "patient_error": patient_error,
            "nhs_number": g.get("nhs_number", "")[:20],
        },
    )


def _slot_from(request) -> Slot:
    pk = parse_int(request.POST.get("slot") or request.GET.get("slot"), "slot", required=True)
    slot = Slot.objects.select_related("hub", "site", "session").filter(pk=pk).first()
    if slot is None:
        raise BadRequest("that slot does not exist")
    return slot


@patient_view("book a hub appointment", writes=True, permission="can_book", needs="booking.create")
def book_slot(request, patient):
    """The booking form for one slot (GET) and the booking (POST)."""
    slot = _slot_from(request)
    values = {"reason": "", "mode": slot.mode, "adjustments": "", "language": "", "need": ""}
    errors = {}
    alternatives = []
    if request.method == "POST":
        p = request.POST
        values = {
            "reason": p.get("reason", "").strip()[:500],
            "mode": parse_choice(p.get("mode"), "mode", MODES) or slot.mode,
            "adjustments": p.get("adjustments", "").strip()[:2000],
            "language": p.get("language", "").strip()[:60],
            "need": parse_choice(p.get("need"), "need", NEEDS) or "routine",
            "interpreter": p.get("interpreter") == "yes",
        }
        if not values["reason"]:
            errors["reason"] = "Enter the reason for the appointment"
        if values["interpreter"] and not values["language"]:
            errors["language"] = "Enter the language the interpreter needs to speak"
        if not errors:
            actor = Actor(
                user=request.user, request=request, basis=request.access_basis, gated=True
            )
            try:
                appt, _ = booking.book(
                    actor,
                    patient,
                    slot,
                    reason=values["reason"],
                    mode=values["mode"],
                    reasonable_adjustments=values["adjustments"],
                    interpreter=values["interpreter"],
                    interpreter_language=values["language"],
                    need=values["need"],
                    help_requested_at=timezone.now(),
                    idempotency_key=p.get("idempotency_key", "")[:100],
                    overbook=p.get("overbook") == "yes",
                )
            except SlotTaken as taken:
                errors["slot"] = f"Sorry, {taken}. Choose another slot."
                alternatives = taken.alternatives
            except BookingError as error:
                errors["slot"] = str(error).capitalize()
            else:
                url = reverse("patient", args=[patient.pk])
                return redirect(f"{url}?booked={appt.pk}#hub-appointments")

    return render(
        request,
        "access/book.html",
        {
            "patient": patient,
            "slot": slot,
            "values": values,
            "errors": errors,
            "alternatives": alternatives,
            "modes": MODES,
            "needs": NEEDS,
            "key": uuid.uuid4().hex,
            "can_overbook": request.user.role_info.can_overbook,
            "length": booking.slots_needed(patient, slot),
        },
        status=409 if alternatives else (400 if errors else 200),
    )


STATUS_ACTIONS = {
    "arrived": "Arrived",
    "seen": "Seen",
    "finished": "Finished",
    "did_not_attend": "Did not attend",
    "cancelled_patient": "Cancelled by the patient",
    "cancelled_practice": "Cancelled by the practice or hub",
}


@patient_view("change a hub appointment", writes=True, needs="appointment.update")
def appointment_status(request, patient):
    """Record arrival, seen, finished, did not attend, or a cancellation with a reason
    (POST ``appointment``, ``status``, ``reason``). Hub staff change their hub's
    appointments; practice-side staff those they may update."""
    if request.method != "POST":
        return redirect(reverse("patient", args=[patient.pk]) + "#hub-appointments")
    appt_id = parse_int(request.POST.get("appointment"), "appointment", required=True)
    basis = request.access_basis
    found = Appointment.objects.select_related("hub").filter(patient=patient)
    if basis == "hub_catchment":  # hub staff change their own hub's appointments only
        found = found.filter(hub__organisation_id=request.user.service_id)
    appt = get_object_or_404(found, pk=appt_id)
    status = parse_choice(request.POST.get("status"), "status", STATUS_ACTIONS)
    if not status:
        raise BadRequest("status is missing")
    try:
        booking.change_status(
            Actor(user=request.user, request=request, basis=basis, gated=True),
            appt,
            status,
            request.POST.get("reason", "")[:300],
        )
    except BookingError as error:
        raise BadRequest(str(error)) from None
    back = request.POST.get("next", "")
    if back == "day":
        return redirect(reverse("access_day"))
    return redirect(reverse("patient", args=[patient.pk]) + "#hub-appointments")


@patient_view("hub appointments")
def patient_appointments(request, patient):
    """The patient's hub appointments: a fragment loaded into the patient page."""
    appts = (
        Appointment.objects.filter(patient=patient)
        .select_related("hub", "booking_org", "booked_by")
        .order_by("-start")[:50]
    )
    can_book = request.user.role_info.can_book and relationships.first_allowing(
        request.user, patient, "booking.create"
    )
    return render(
        request,
        "access/_patient_appointments.html",
        {
            "patient": patient,
            "appointments": appts,
            "can_book": bool(can_book),
            "transitions": TRANSITIONS,
            "labels": STATUS_ACTIONS,
        },
    )


def day_list(request):
    """The hub clinician's appointments on one day (today by default): time, patient,
    reason, adjustments, interpreter, status. Identifiable: audited once a page."""
    if refused := _staff_only(request, "hub day list"):
        return refused
    if (
        not request.user.service_id
        or not Hub.objects.filter(organisation_id=request.user.service_id).exists()
    ):
        return _refuse(request, "hub day list", "the day list is for hub staff")
    date = parse_date(request.GET.get("date"), "date") or timezone.localdate()
    mine = request.GET.get("all") != "1"
    appts = Appointment.objects.filter(
        hub__organisation_id=request.user.service_id,
        start__gte=local(date, dt.time()),
        start__lt=local(date + dt.timedelta(days=1), dt.time()),
    ).select_related("patient", "booking_org", "hub")
    if mine:
        appts = appts.filter(holds__slot__clinician=request.user).distinct()
    appts = list(appts.order_by("start"))
    for a in appts:
        a.actions = [
            (code, label)
            for code, label in STATUS_ACTIONS.items()
            if code in TRANSITIONS[a.status] and not code.startswith("cancelled")
        ]
    audit.record(
        request,
        action="read",
        what=f"hub day list {date:%Y-%m-%d}: {len(appts)} appointments",
    )
    return render(
        request,
        "access/day.html",
        {
            "date": date,
            "appointments": appts,
            "mine": mine,
            "previous": date - dt.timedelta(days=1),
            "next": date + dt.timedelta(days=1),
            "statuses": APPOINTMENT_STATUSES,
            "transitions": TRANSITIONS,
            "labels": STATUS_ACTIONS,
            "london": LONDON,
        },
    )


def hubs(request):
    """The hubs the user works with, linking to each rota."""
    if refused := _staff_only(request, "access hubs"):
        return refused
    found = list(_hubs_for(request.user).distinct().order_by("name"))
    if not found:
        raise Http404("no hubs")
    return redirect(reverse("access_rota", args=[found[0].pk]))
