"""Outreach pages. The call lists are the practice's: GP and practice staff (roles with the
practice list), for their own practice's patients, the registered relationship. The index
shows each cohort's counts to them and, as counts only, to commissioners. Every page is
audited; the patient's own outreach page goes through the records gate.

- ``/outreach/``: the cohorts, the current build of each, counts by state in the user's scope;
- ``/outreach/<cohort_id>/``: the call list (name, NHS number, practice, preferred contact and
  reasonable adjustments, state, last contact), the hub capacity it may use, the batch form;
- ``/outreach/<cohort_id>/send`` (POST): a batch of invitations (``batch.py``);
- ``/patients/<pk>/outreach/``: the patient's outreach and a form to record a contact (who,
  how, the response: booked, declined, no answer).
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from wraparound.apps.outreach import batch, capacity
from wraparound.apps.outreach.cohorts import CohortError, get, library
from wraparound.apps.outreach.models import METHODS, CallListEntry, CohortBuild, ContactAttempt
from wraparound.apps.records import audit
from wraparound.apps.records.access import patient_view
from wraparound.web.bad_request import parse_choice, parse_int

PAGE_SIZE = 50
RESPONSES = {"booked": "Booked", "declined": "Declined", "no_answer": "No answer"}
MAX_BATCH = 500


def _refuse(request, what: str):
    audit.record(request, action="denied", what=what, outcome="denied")
    return render(request, "outreach/refused.html", {"what": what}, status=403)


def _calls(user) -> bool:
    return user.role_info.practice_list


def index(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    role = request.user.role_info
    if not (role.practice_list or role.pseudonymised):
        return _refuse(request, "outreach cohorts")
    practices = list(request.user.practices().values_list("org_id", flat=True))
    rows = []
    for cohort in library().values():
        build = CohortBuild.objects.filter(cohort_id=cohort.id, current=True).first()
        states = {}
        if build is not None:
            entries = CallListEntry.objects.filter(build=build, practice_id__in=practices)
            if role.pseudonymised:
                entries = entries.filter(patient__opted_out=False)
            states = dict(entries.values_list("state").annotate(n=Count("pk")))
        rows.append(
            {"cohort": cohort, "build": build, "states": states, "total": sum(states.values())}
        )
    audit.record(request, action="read", what="outreach cohorts (counts)")
    return render(request, "outreach/index.html", {"rows": rows, "calls": _calls(request.user)})


def _cohort(cohort_id: str):
    try:
        return get(cohort_id)
    except CohortError:
        raise Http404("no such outreach cohort") from None


def call_list(request, cohort_id: str):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    cohort = _cohort(cohort_id)
    if not _calls(request.user):
        return _refuse(request, f"outreach call list {cohort.id}")
    state = parse_choice(
        request.GET.get("state"), "state", dict(CallListEntry._meta.get_field("state").choices)
    )
    page_number = parse_int(request.GET.get("page"), "page") or 1
    build = CohortBuild.objects.filter(cohort_id=cohort.id, current=True).first()
    practices = request.user.practices()
    context = {
        "cohort": cohort,
        "build": build,
        "state": state,
        "states": CallListEntry._meta.get_field("state").choices,
        "max_batch": MAX_BATCH,
        "batch": request.session.pop("outreach_batch", None),
    }
    if build is not None:
        entries = CallListEntry.objects.filter(build=build, practice__in=practices)
        if state:
            entries = entries.filter(state=state)
        entries = entries.select_related("patient", "practice", "patient__contact").order_by("pk")
        page = Paginator(entries, PAGE_SIZE).get_page(page_number)
        last = {}
        for a in ContactAttempt.objects.filter(entry__in=list(page.object_list)).order_by(
            "at", "pk"
        ):
            last[a.entry_id] = a
        rows = []
        for e in page.object_list:
            contact = getattr(e.patient, "contact", None)
            rows.append(
                {
                    "entry": e,
                    "preferred": (
                        contact.get_preferred_channel_display()
                        if contact and contact.preferred_channel
                        else ""
                    ),
                    "adjustments": contact.adjustments() if contact else [],
                    "last": last.get(e.pk),
                }
            )
        neighbourhoods = sorted(
            set(practices.exclude(parent=None).values_list("parent_id", flat=True))
        )
        context.update(
            page=page,
            rows=rows,
            capacity=[(nb, capacity.available(nb)) for nb in neighbourhoods],
            days=capacity.DAYS_AHEAD,
        )
    audit.record(request, action="read", what=f"outreach call list {cohort.id} page {page_number}")
    return render(request, "outreach/call_list.html", context)


def send(request, cohort_id: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    cohort = _cohort(cohort_id)
    if not _calls(request.user):
        return _refuse(request, f"outreach batch {cohort.id}")
    limit = parse_int(request.POST.get("limit"), "limit", required=True)
    if not 1 <= limit <= MAX_BATCH:
        raise BadRequest(f"limit must be 1 to {MAX_BATCH}")
    practices = list(request.user.practices().values_list("org_id", flat=True))
    try:
        result = batch.send_batch(request, cohort.id, practices, limit)
    except batch.BatchError as exc:
        raise BadRequest(str(exc)) from None
    if not (result["sent"] or result["undeliverable"]):
        audit.record(request, action="write", what=f"outreach batch {cohort.id}: nothing sent")
    request.session["outreach_batch"] = {k: v for k, v in result.items() if k != "room"}
    return redirect("outreach_list", cohort_id=cohort.id)


def _needs(request):
    return ("read", "booking.create") if request.method == "POST" else "read"


@patient_view("outreach", writes=True, needs=_needs)
def patient_outreach(request, patient):
    entries = (
        CallListEntry.objects.filter(patient=patient, build__current=True)
        .select_related("build")
        .order_by("build__cohort_id")
    )
    errors = {}
    if request.method == "POST":
        if not _calls(request.user):
            raise BadRequest("only practice staff record outreach contacts")
        entry_id = parse_int(request.POST.get("entry"), "entry", required=True)
        method = parse_choice(
            request.POST.get("method"), "method", {m for m, _ in METHODS if m != "message"}
        )
        outcome = parse_choice(request.POST.get("outcome"), "outcome", RESPONSES)
        note = request.POST.get("note", "").strip()
        entry = entries.filter(pk=entry_id).first()
        if entry is None:
            raise BadRequest("entry is not on this patient's current outreach lists")
        if not method:
            errors["method"] = "Select how you contacted the patient"
        if not outcome:
            errors["outcome"] = "Select how the patient responded"
        if len(note) > 300:
            errors["note"] = "Use 300 characters or fewer"
        if not errors:
            ContactAttempt.objects.create(
                entry=entry, by=request.user, method=method, outcome=outcome, note=note
            )
            entry.state = outcome
            entry.save(update_fields=["state", "updated_at"])
            return redirect("patient_outreach", pk=patient.pk)
    cohorts = library()
    items = [
        {
            "entry": e,
            "title": cohorts[e.build.cohort_id].title
            if e.build.cohort_id in cohorts
            else e.build.cohort_id,
            "attempts": list(e.attempts.select_related("by")),
        }
        for e in entries
    ]
    return render(
        request,
        "outreach/patient.html",
        {
            "patient": patient,
            "items": items,
            "methods": [m for m in METHODS if m[0] != "message"],
            "responses": list(RESPONSES.items()),
            "errors": errors,
            "can_record": _calls(request.user),
        },
        status=400 if errors else 200,
    )
