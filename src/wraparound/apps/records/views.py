"""Break-glass (and its review queue) and the audit search.

The home page is in ``web/home.py`` and the patient page and timeline in
``care/patient_views.py``: they show what care and registers hold, and records imports no
other app."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from wraparound.apps.records import audit
from wraparound.apps.records import break_glass as glass
from wraparound.apps.records.access import glass_form_context
from wraparound.apps.records.models import AuditEvent, Patient
from wraparound.web.bad_request import parse_choice, parse_date


def break_glass(request, pk):
    """Emergency access: a direct-care role chooses a reason from the list, describes what
    is happening, and may read the record for the minutes in data/break_glass_reasons.toml.
    The event waits in the auditor's review queue."""
    patient = get_object_or_404(Patient, pk=pk)
    if request.method != "POST":
        audit.record(
            request,
            patient=patient,
            action="denied",
            outcome="denied",
            what=f"break glass: {request.method} not allowed",
        )
        return HttpResponseNotAllowed(["POST"])
    code = request.POST.get("reason_code", "").strip()
    detail = request.POST.get("reason", "").strip()
    reason = f"{code}: {detail}" if code else detail
    if not request.user.role_info.direct_care:
        audit.record(
            request,
            patient=patient,
            action="denied",
            what="break glass",
            outcome="denied",
            reason=reason,
        )
        return HttpResponseForbidden("Your role cannot break the glass.")
    errors = glass.check_reason(code, detail)
    if errors:
        audit.record(
            request,
            patient=patient,
            action="denied",
            what="break glass: no valid reason",
            outcome="denied",
            reason=reason,
        )
        return render(
            request,
            "records/refused.html",
            glass_form_context(
                patient_pk=patient.pk,
                can_break_glass=True,
                errors=errors,
                chosen_code=code,
                detail=detail,
            ),
            status=400,
        )
    grant = glass.grant(request.user, patient, code, detail)
    audit.record(
        request,
        patient=patient,
        action="break_glass",
        what=f"break glass until {timezone.localtime(grant.expires_at):%Y-%m-%d %H:%M}",
        basis="break_glass",
        reason=reason,
    )
    return redirect("patient", pk=patient.pk)


break_glass.patient_view = True


def break_glass_review(request):
    """The auditor's queue of break-glass events to sign off, each with what was opened
    under it; a sign-off is recorded on the event and audited."""
    if not request.user.role_info.audit:
        audit.record(request, action="denied", what="break-glass review", outcome="denied")
        return HttpResponseForbidden("Only the auditor reviews break-glass events.")
    rules = glass.rules()
    error = ""
    if request.method == "POST":
        pk, outcome = request.POST.get("grant", ""), request.POST.get("outcome", "")
        known = pk.isascii() and pk.isdigit() and len(pk) < 19
        grant = glass.review_queue().filter(pk=pk).first() if known else None
        if grant is None:
            error = "That break-glass event is not waiting for sign-off"
        elif outcome not in rules.review_outcomes:
            error = "Choose an outcome"
        if error:
            audit.record(
                request, action="denied", what=f"break-glass sign-off: {error}", outcome="denied"
            )
        else:
            note = request.POST.get("note", "").strip()
            glass.sign_off(grant, request.user, outcome, note)
            audit.record(
                request,
                patient=grant.patient,
                action="review",
                what=f"break-glass {grant.pk} by {grant.user.username} signed off: {outcome}",
                reason=note,
            )
            return redirect("break_glass_review")
    else:
        audit.record(request, action="read", what="break-glass review queue")
    queue = list(glass.review_queue())
    for g in queue:
        g.reason_label = rules.reasons.get(g.reason_code, "(none chosen)")
        g.events = AuditEvent.objects.filter(
            user=g.user,
            patient=g.patient,
            basis="break_glass",
            at__gte=g.at - dt.timedelta(seconds=1),  # the database's clock sets ``at``
            at__lte=g.expires_at,
        ).exclude(action="break_glass")[:20]
    return render(
        request,
        "records/break_glass_review.html",
        {
            "queue": queue,
            "reviewed": glass.recently_reviewed(),
            "outcomes": list(rules.review_outcomes.items()),
            "error": error,
        },
        status=400 if error else 200,
    )


def audit_search(request):
    """The auditor's search. Every search is itself audited, with what was asked for (and
    the patient, when one was named), since the results show who opened whose record."""
    if not request.user.role_info.audit:
        audit.record(request, action="denied", what="audit search", outcome="denied")
        return HttpResponseForbidden("Only the auditor can search the audit trail.")
    q = {k: request.GET.get(k, "").strip() for k in ("username", "patient", "action", "since")}
    q["until"] = request.GET.get("until", "").strip()
    q["outcome"] = parse_choice(request.GET.get("outcome"), "outcome", ("allowed", "denied"))
    since = parse_date(q["since"], "since")
    until = parse_date(q["until"], "until")
    events = AuditEvent.objects.select_related("patient")
    if q["username"]:
        events = events.filter(username__iexact=q["username"][:150])
    named = None
    if q["patient"]:
        named = Patient.objects.filter(
            Q(nhs_number=q["patient"].replace(" ", "")) | Q(pseudonym=q["patient"])
        ).first()
        events = events.filter(patient=named)
    if q["action"]:
        events = events.filter(action=q["action"][:20])
    if q["outcome"]:
        events = events.filter(outcome=q["outcome"])
    if since:
        events = events.filter(at__date__gte=since)
    if until:
        events = events.filter(at__date__lte=until)
    # Audited before the page is counted, so the results include this search (and the
    # paginator's count and its lazily read slice agree).
    asked = ", ".join(f"{k}={v}" for k, v in q.items() if v) or "everything"
    audit.record(request, patient=named, action="audit_search", what=f"audit search: {asked}")
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    params = urlencode({k: v for k, v in q.items() if v})
    return render(
        request,
        "records/audit.html",
        {"page": page, "q": q, "params": params, "actions": audit.ACTIONS},
    )
