"""The FHIR R4 API under ``/fhir/``, in the shape of GP Connect Appointment Management.

- ``GET /fhir/Slot?start=ge…&end=le…&status=free&_include=Slot:schedule`` free slots
  released to the caller's organisation at hubs serving its neighbourhood (or the one a
  ``searchFilter=https://fhir.nhs.uk/Id/ods-organization-code|CODE`` booking organisation
  filter names), with Schedule, PractitionerRole and Location when included;
- ``POST /fhir/Appointment`` books (UK Core BookingOrganization extension naming the token's
  organisation; ``Idempotency-Key`` header; 409 with the next free slots when the slot has
  gone; the page's booking rules: the patient's stream decides how many slots, the embargo
  which are released, refused with a 422 business-rule OperationOutcome);
- ``PUT /fhir/Appointment/<id>`` cancels (``status: cancelled`` with a cancelationReason)
  or amends (description, comment) or records arrival/outcome;
- ``GET /fhir/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|…`` and
  ``GET /fhir/Appointment/<id>``.

Authentication is a bearer token tied to an organisation (``tokens.py``); every call is
audited, refusals too. Malformed requests get a 400/422 OperationOutcome, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from wraparound.apps.access import booking
from wraparound.apps.access import fhir_resources as res
from wraparound.apps.access.booking import Actor, BookingError, SlotTaken
from wraparound.apps.access.models import Appointment, Hub, Slot
from wraparound.apps.access.tokens import authenticate
from wraparound.apps.records.models import AuditEvent, Organisation, Patient

FHIR_JSON = "application/fhir+json"
MAX_DAYS = 28  # widest Slot search window
MAX_BODY = 64 * 1024


class Refused(Exception):
    def __init__(self, status: int, code: str, text: str, extra: dict | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.extra = status, code, text, extra or {}


def respond(body: dict, status: int = 200, **headers) -> JsonResponse:
    response = JsonResponse(body, status=status, content_type=FHIR_JSON)
    for k, v in headers.items():
        response[k.replace("_", "-")] = v
    return response


def _audit(request, token, action, what, outcome="allowed", patient=None):
    AuditEvent.objects.create(
        user=None,
        username=(f"api-token:{token.name}" if token else "api-token:unknown")[:150],
        role="",
        patient=patient,
        action=action,
        what=what[:200],
        outcome=outcome,
        method=request.method or "",
        path=request.get_full_path()[:300],
    )


def fhir_view(methods: tuple[str, ...]):
    """Authenticate, refuse other methods, turn refusals into OperationOutcomes, audit
    refusals (the view audits what it allowed)."""

    def decorate(view):
        @csrf_exempt
        def wrapper(request, *args, **kwargs):
            token = authenticate(request.headers.get("Authorization", ""))
            try:
                if token is None:
                    raise Refused(401, "security", "a valid bearer token is required")
                if request.method not in methods:
                    raise Refused(405, "not-supported", f"{request.method} is not supported")
                return view(request, token, *args, **kwargs)
            except Refused as refused:
                _audit(request, token, "denied", f"FHIR: {refused.text}", outcome="denied")
                body = res.outcome(refused.code, refused.text)
                body.update(refused.extra)
                extra = {"WWW_Authenticate": "Bearer"} if refused.status == 401 else {}
                return respond(body, refused.status, **extra)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorate


def _parse_when(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value) if "T" in value else None
        if parsed is None:
            day = dt.date.fromisoformat(value)
            parsed = dt.datetime.combine(day, dt.time())
    except ValueError:
        raise Refused(400, "invalid", f"{name} must be a FHIR date or dateTime") from None
    if parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed)
    return parsed


def _bound(request, name: str, prefix: str) -> dt.datetime:
    values = request.GET.getlist(name)
    if len(values) != 1 or not values[0].startswith(prefix):
        raise Refused(400, "invalid", f"give exactly one {name}={prefix}YYYY-MM-DD[Thh:mm:ss]")
    return _parse_when(values[0][len(prefix) :], name)


def _org_hubs(org: Organisation):
    """The hubs an organisation may book into: its own, or those serving its
    neighbourhood (a practice's parent)."""
    neighbourhood = org.parent_id if org.kind == "practice" else None
    if org.kind == "neighbourhood":
        neighbourhood = org.pk
    return Hub.objects.filter(organisation=org) | Hub.objects.filter(neighbourhood_id=neighbourhood)


def _booking_org(request, token) -> Organisation:
    filters = request.GET.getlist("searchFilter")
    org = token.organisation
    for f in filters:
        system, _, code = f.partition("|")
        if system == res.ODS_CODE:
            found = Organisation.objects.filter(pk=code).first()
            if found is None:
                raise Refused(422, "invalid", f"no organisation {code[:20]!r}")
            org = found
        elif system != "https://fhir.nhs.uk/CodeSystem/Organisation-Type":
            raise Refused(400, "invalid", "searchFilter must name an ODS organisation code")
    return org


@fhir_view(("GET",))
def slot_search(request, token):
    """Free slots in a window, released to the booking organisation."""
    start = _bound(request, "start", "ge")
    end = _bound(request, "end", "le")
    if end < start or end - start > dt.timedelta(days=MAX_DAYS):
        raise Refused(400, "invalid", f"the window must run forwards, at most {MAX_DAYS} days")
    status = request.GET.get("status", "free")
    if status != "free":
        raise Refused(400, "not-supported", "only status=free is searchable")
    include = request.GET.getlist("_include")
    if set(include) - {"Slot:schedule"}:
        raise Refused(400, "not-supported", "only _include=Slot:schedule is supported")
    org = _booking_org(request, token)
    now = timezone.now()
    slots = list(
        Slot.objects.filter(
            hub__in=_org_hubs(org),
            status="free",
            start__gte=max(start, now),
            start__lte=end,
            released_to_practices_at__lte=now,
        )
        .select_related("session__hub", "session__clinician", "site__hub")
        .order_by("start", "pk")[:1000]
    )
    resources = [res.slot(s) for s in slots]
    if include:
        sessions = {s.session_id: s.session for s in slots if s.session_id}
        sites = {s.site_id: s.site for s in slots}
        resources += [res.schedule(x) for x in sessions.values()]
        resources += [res.practitioner_role(x) for x in sessions.values()]
        resources += [res.location(x) for x in sites.values()]
    _audit(request, token, "read", f"FHIR Slot search for {org.pk}: {len(slots)} slots")
    return respond(res.bundle(resources, len(slots)))


def _body(request) -> dict:
    if len(request.body) > MAX_BODY:
        raise Refused(413, "too-long", "the request body is too large")
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "invalid", "the body must be JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise Refused(422, "invalid", "the body must be an Appointment resource")
    from fhirclient.models.appointment import Appointment as FhirAppointment
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    try:
        FhirAppointment(body, strict=True)
    except (FHIRValidationError, TypeError, ValueError, AttributeError, KeyError) as e:
        raise Refused(
            422, "structure", f"not a valid FHIR R4 Appointment: {str(e)[:150]}"
        ) from None
    return body


def _ref_id(ref, kind: str) -> int | None:
    text = (ref or {}).get("reference", "") if isinstance(ref, dict) else ""
    head, _, tail = text.partition("/")
    if head != kind or not tail.isascii() or not tail.isdigit() or len(tail) > 18:
        return None
    return int(tail)


def _patient_of(body: dict) -> Patient:
    for p in body.get("participant") or []:
        actor = p.get("actor") or {}
        ident = actor.get("identifier") or {}
        if ident.get("system") == res.NHS_NUMBER and ident.get("value"):
            found = Patient.objects.filter(nhs_number=str(ident["value"])).first()
            if found:
                return found
        pk = _ref_id(actor, "Patient")
        if pk is not None and (found := Patient.objects.filter(pk=pk).first()):
            return found
    raise Refused(422, "invalid", "the participant must name a known patient (NHS number)")


def _booking_extension(body: dict, token) -> None:
    for ext in body.get("extension") or []:
        if ext.get("url") == res.BOOKING_ORGANIZATION:
            ident = (ext.get("valueReference") or {}).get("identifier") or {}
            if ident.get("system") == res.ODS_CODE and ident.get("value") == token.organisation_id:
                return
            raise Refused(403, "forbidden", "the booking organisation must be the token's own")
    raise Refused(422, "required", "the UK Core BookingOrganization extension is required")


@fhir_view(("GET", "POST"))
def appointments(request, token):
    """Book (POST) or search a patient's appointments (GET)."""
    if request.method == "POST":
        return _book(request, token)
    values = request.GET.getlist("patient:identifier")
    if len(values) != 1 or not values[0].startswith(res.NHS_NUMBER + "|"):
        raise Refused(400, "invalid", f"give patient:identifier={res.NHS_NUMBER}|NHS number")
    number = values[0].split("|", 1)[1]
    patient = Patient.objects.filter(nhs_number=number).first() if number.isdigit() else None
    if patient is None:
        raise Refused(404, "not-found", "no patient with that NHS number")
    found = list(
        Appointment.objects.filter(patient=patient, hub__in=_org_hubs(token.organisation))
        .select_related("patient", "booking_org")
        .order_by("start")
    )
    _audit(request, token, "read", f"FHIR Appointment search: {len(found)} found", patient=patient)
    return respond(res.bundle([res.appointment(a) for a in found], len(found)))


def _book(request, token):
    body = _body(request)
    if body.get("status") not in ("booked", "proposed", "pending"):
        raise Refused(422, "invalid", "a new appointment's status must be booked")
    _booking_extension(body, token)
    patient = _patient_of(body)
    slot_ids = [_ref_id(s, "Slot") for s in body.get("slot") or []]
    if not slot_ids or None in slot_ids or len(slot_ids) > 2:
        raise Refused(422, "invalid", "slot must reference one or two Slot/<id>")
    slots = {s.pk: s for s in Slot.objects.filter(pk__in=slot_ids).select_related("hub")}
    if len(slots) != len(set(slot_ids)):
        raise Refused(422, "invalid", "a slot referenced does not exist")
    first = slots[slot_ids[0]]
    if first.hub not in set(_org_hubs(token.organisation)):
        raise Refused(403, "forbidden", "that hub does not serve your organisation")
    if patient.neighbourhood_id != first.hub.neighbourhood_id and (
        patient.practice is None or patient.practice.parent_id != first.hub.neighbourhood_id
    ):
        raise Refused(403, "forbidden", "the patient is not registered in the hub's neighbourhood")
    if len(slot_ids) == 2 and slots[slot_ids[1]].start != first.end:
        raise Refused(422, "invalid", "two slots must be adjacent")
    actor = Actor(token=token, request=request, basis="api")
    try:
        appt, created = booking.book(
            actor,
            patient,
            first,
            reason=str(body.get("description") or "")[:500],
            reasonable_adjustments=str(body.get("comment") or ""),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            slots=1 if len(slot_ids) == 1 else None,
            pair=slots[slot_ids[1]] if len(slot_ids) == 2 else None,
            named=True,  # the stream rule refuses too few slots, as the page applies it
        )
    except SlotTaken as taken:
        alternatives = [f"Slot/{s.pk}" for s in taken.alternatives]
        raise Refused(
            409,
            "conflict",
            f"{taken}; next free: {', '.join(alternatives) or 'none'}",
        ) from None
    except BookingError as error:
        raise Refused(422, "business-rule", str(error)) from None
    return respond(
        res.appointment(appt), 201 if created else 200, Location=f"/fhir/Appointment/{appt.pk}"
    )


STATUS_FROM_FHIR = {
    "arrived": "arrived",
    "checked-in": "seen",
    "fulfilled": "finished",
    "noshow": "did_not_attend",
}


@fhir_view(("GET", "PUT"))
def appointment(request, token, pk: int):
    """Read, amend or cancel one appointment the organisation booked (or, for a hub,
    that is at the hub)."""
    appt = (
        Appointment.objects.filter(pk=pk)
        .filter(booking_org=token.organisation)
        .select_related("patient", "booking_org")
        .first()
        or Appointment.objects.filter(pk=pk, hub__organisation=token.organisation)
        .select_related("patient", "booking_org")
        .first()
    )
    if appt is None:
        raise Refused(404, "not-found", f"no appointment {pk} for your organisation")
    if request.method == "GET":
        _audit(request, token, "read", f"FHIR Appointment {pk}", patient=appt.patient)
        return respond(res.appointment(appt))
    body = _body(request)
    if str(body.get("id", pk)) != str(pk):
        raise Refused(422, "invalid", "the body's id is not this appointment's")
    actor = Actor(token=token, request=request, basis="api")
    status = body.get("status")
    try:
        if status == "cancelled":
            reason = body.get("cancelationReason") or {}
            text = reason.get("text") or ", ".join(
                c.get("display") or c.get("code") or "" for c in reason.get("coding") or []
            )
            codes = {c.get("code") for c in reason.get("coding") or []}
            by = "patient" if "pat" in codes else "practice"
            if appt.status != f"cancelled_{by}":
                appt = booking.change_status(actor, appt, f"cancelled_{by}", text)
        elif status in STATUS_FROM_FHIR:
            if appt.status != STATUS_FROM_FHIR[status]:
                appt = booking.change_status(actor, appt, STATUS_FROM_FHIR[status])
        elif status != "booked":
            raise Refused(422, "invalid", f"status {str(status)[:20]!r} cannot be set here")
        changes = {}
        if "description" in body:
            changes["reason"] = str(body["description"])[:500]
        if "comment" in body:
            changes["reasonable_adjustments"] = str(body["comment"])
        if changes and appt.status in ("booked", "arrived", "seen"):
            appt = booking.amend(actor, appt, **changes)
    except BookingError as error:
        raise Refused(422, "business-rule", str(error)) from None
    appt = Appointment.objects.select_related("patient", "booking_org").get(pk=appt.pk)
    return respond(res.appointment(appt))
