"""The referrals pages: the directory search, a patient's referrals and the referral form
(with the specialty's pathway), a referral's thread and steps, the receiving service's
triage queue, the referrer's worklist and the co-ordination centre's worklist.

Every page that shows a patient goes through the one gate: the patient's referrals page is
a ``patient_view`` (reading, and ``referral.create`` to send one); a referral's thread
resolves the referral and then passes through the same gate for its patient (the receiving
service holds the relationship its state names; a closed referral holds none), each step
also leaving an audit row naming it (``machine.py``). The worklists show patients and are
audited once a page; their rows are only referrals the user's service received or the
user's organisation made, and patients in the user's scope.
"""

from __future__ import annotations

import functools

from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.records import audit
from wraparound.apps.records.access import patient_view
from wraparound.apps.referrals import directory, machine, rules, worklists
from wraparound.apps.referrals.models import CAPACITY, URGENCY, Attachment, Referral, Service
from wraparound.web.bad_request import parse_choice, parse_int

SEARCH_PAGE = 25  # services shown a page (eligible first)


def _refuse(request, what: str, why: str):
    """Refused through records' audited denial: a 403 page saying why and one ``denied``
    audit row naming the user and the page, as every app refuses (a bare PermissionDenied
    left no trace of who tried)."""
    audit.record(request, action="denied", what=f"{what}: {why}", outcome="denied")
    return render(request, "referrals/refused.html", {"why": why}, status=403)


def _staff_only(request, what: str):
    """The refusal for a role without direct care, or None."""
    if not request.user.role_info.direct_care:
        return _refuse(request, what, "the referral pages are for direct-care staff")
    return None


def _search_args(request) -> dict:
    g = request.GET
    return {
        "text": g.get("q", "")[:200],
        "term": parse_choice(g.get("term"), "term", set(directory.taxonomy())),
        "locality": g.get("locality", "")[:60],
        "postcode": g.get("postcode", "")[:10],
        "route": parse_choice(g.get("route"), "route", set(rules_routes())),
    }


def rules_routes() -> dict[str, str]:
    return {
        "advice_and_guidance": "Advice and guidance",
        "referral": "Referral",
        "self_referral": "Self-referral",
        "bookable": "Bookable",
    }


def directory_search(request):
    """The directory: need (words, taxonomy term), place (locality, postcode district) and
    route. No patient on this page: eligibility is checked from the patient's referrals
    page, through the gate."""
    if refused := _staff_only(request, "directory search"):
        return refused
    args = _search_args(request)
    hits = directory.search(**args)
    page = Paginator(hits, SEARCH_PAGE).get_page(parse_int(request.GET.get("page"), "page") or 1)
    return render(
        request,
        "referrals/directory.html",
        {
            "hits": page.object_list,
            "page": page,
            "count": len(hits),
            "args": args,
            "terms": directory.taxonomy(),
            "localities": directory.localities(),
            "routes": rules_routes(),
        },
    )


def _form_needs(request):
    return "referral.create" if request.method == "POST" else "read"


@patient_view("referrals", writes=True, needs=_form_needs)
def patient_referrals(request, patient):
    """The patient's referrals and requests, and the form to send one: the directory
    searched with eligibility against the record, the chosen service's pathway."""
    errors, values = {}, {}
    if request.method == "POST":
        p = request.POST
        values = {k: p.get(k, "") for k in ("service", "reason", "urgency", "kind", "red_flag")}
        service = Service.objects.filter(pk=parse_int(p.get("service"), "service")).first()
        kind = parse_choice(p.get("kind") or "referral", "kind", {"referral", "request"})
        urgency = parse_choice(p.get("urgency") or "routine", "urgency", dict(URGENCY))
        if service is None:
            errors["service"] = "Choose a service from the directory"
        elif why := directory.eligibility(service, patient):
            errors["service"] = f"The patient is not eligible for {service}: {'; '.join(why)}"
        if not p.get("reason", "").strip():
            errors["reason"] = "Say what the referral is for"
        if not errors:
            try:
                ref = machine.create(
                    patient=patient,
                    service=service,
                    referrer=request.user,
                    reason=p["reason"][:4000],
                    machine=kind,
                    urgency=urgency,
                    red_flag=p.get("red_flag") == "yes",
                    request=request,
                )
            except machine.TransitionError as exc:
                errors["service"] = str(exc)
            else:
                return redirect("referral_thread", referral_id=ref.pk)
    args = _search_args(request) if request.method == "GET" else {}
    chosen = None
    if request.method == "GET" and (sid := parse_int(request.GET.get("service"), "service")):
        chosen = Service.objects.filter(pk=sid).first()
    elif values.get("service"):
        chosen = Service.objects.filter(pk=parse_int(values["service"], "service")).first()
    here = reverse("referrals_patient", args=[patient.pk])
    hits = [
        (h, f"{here}?service={h.service.pk}")
        for h in (
            directory.search(patient=patient, **args)
            if args.get("text") or args.get("term")
            else []
        )
    ][:SEARCH_PAGE]
    referrals = (
        Referral.objects.filter(patient=patient).select_related("service").order_by("-created_at")
    )
    return render(
        request,
        "referrals/patient.html",
        {
            "patient": patient,
            "referrals": [(r, _state(r)) for r in referrals[:100]],
            "hits": hits,
            "args": args,
            "chosen": chosen,
            "chosen_why": directory.eligibility(chosen, patient) if chosen else [],
            "pathway": rules.pathways().get(chosen.specialty) if chosen else None,
            "terms": directory.taxonomy(),
            "errors": errors,
            "values": values,
            "urgencies": dict(URGENCY),
        },
        status=400 if errors else 200,
    )


def _state(ref: Referral) -> rules.State:
    return rules.machine(ref.machine).state(ref.state)


def _through_gate(what: str, writes: bool = False):
    """Resolve ``referral_id`` and pass through the patient gate for its patient."""

    def decorate(view):
        @patient_view(what, writes=writes)
        def gated(request, patient, referral):
            return view(request, patient, referral)

        @functools.wraps(view)
        def wrapper(request, referral_id, **kwargs):
            referral = get_object_or_404(
                Referral.objects.select_related("service", "patient", "referrer"), pk=referral_id
            )
            request.referral_kwargs = kwargs
            return gated(request, referral.patient_id, referral)

        return wrapper

    return decorate


@_through_gate("referral thread", writes=True)
def referral_thread(request, patient, referral):
    """The referral: what was asked, the pathway, the thread, attachments, the history and
    the steps the user may take now."""
    error = ""
    if request.method == "POST":
        p = request.POST
        action = p.get("action", "")
        side = machine.side_of(request.user, referral)
        try:
            if action == "message":
                if side is None:
                    raise machine.TransitionError(
                        "only the referrer and the service may write here"
                    )
                if not p.get("text", "").strip():
                    raise machine.TransitionError("Write a message")
                from wraparound.apps.referrals.models import Message

                Message.objects.create(
                    referral=referral,
                    at=timezone.now(),
                    author=request.user,
                    side=side,
                    text=p["text"].strip()[:4000],
                )
            elif action == "attach":
                if side is None:
                    raise machine.TransitionError("only the referrer and the service may attach")
                _attach(referral, request)
            else:
                letter = None
                upload = request.FILES.get("letter")
                if upload is not None:
                    letter = _checked_file(upload)
                target = None
                if sid := parse_int(p.get("service"), "service"):
                    target = Service.objects.filter(pk=sid).first()
                machine.apply(
                    referral,
                    action,
                    request.user,
                    reason=p.get("reason", ""),
                    message=p.get("text", "")[:4000],
                    letter=letter,
                    service=target,
                    request=request,
                )
        except machine.TransitionError as exc:
            error = str(exc)
            referral.refresh_from_db()
        else:
            return redirect("referral_thread", referral_id=referral.pk)
    m = rules.machine(referral.machine)
    steps = machine.available(referral, request.user)
    chain = referral.chain()
    return render(
        request,
        "referrals/thread.html",
        {
            "patient": patient,
            "referral": referral,
            "state": _state(referral),
            "overdue": machine.overdue(referral),
            "pathway": rules.pathways().get(referral.specialty),
            "messages_": referral.messages.select_related("author"),
            "attachments": Attachment.objects.filter(referral__in=chain).defer("data"),
            "redirects": referral.redirects.select_related("service"),
            "redirect_services": _redirect_services(referral) if _needs_service(steps) else [],
            "events": [(e, m.states.get(e.to_state)) for e in referral.events.select_related("by")],
            "steps": steps,
            "reasons": rules.reasons(),
            "side": machine.side_of(request.user, referral),
            "error": error,
            "limits": rules.limits()["attachments"],
        },
        status=400 if error else 200,
    )


def _needs_service(steps) -> bool:
    return any("service" in t.needs for t in steps)


def _redirect_services(referral: Referral) -> list[Service]:
    """Where the service may redirect to: the other services of its locality that take
    referrals and are accepting (``machine.apply`` checks the one chosen again, with the
    patient's eligibility)."""
    found = Service.objects.filter(locality=referral.service.locality).exclude(
        pk=referral.service_id
    )
    return [s for s in found.exclude(capacity="closed") if s.takes("referral")]


def _checked_file(upload) -> tuple[str, str, bytes]:
    limits = rules.limits()["attachments"]
    name = upload.name.rsplit("/", 1)[-1][:200]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in limits["types"] or upload.content_type != limits["types"][ext]:
        allowed = ", ".join(sorted(limits["types"]))
        raise machine.TransitionError(f"{name}: files of type {allowed} only")
    if upload.size > limits["max_bytes"]:
        raise machine.TransitionError(f"{name}: larger than {limits['max_bytes'] // 1_000_000} MB")
    return name, upload.content_type, upload.read()


def _attach(referral, request) -> None:
    upload = request.FILES.get("file")
    if upload is None:
        raise machine.TransitionError("Choose a file to attach")
    name, content_type, data = _checked_file(upload)
    Attachment.objects.create(
        referral=referral,
        at=timezone.now(),
        uploaded_by=request.user,
        name=name,
        content_type=content_type,
        size=len(data),
        data=data,
    )


@_through_gate("referral attachment")
def attachment(request, patient, referral):
    pk = request.referral_kwargs.get("attachment_id")  # an int from the URL converter
    # a redirected referral carries the attachments of the one it came from
    found = Attachment.objects.filter(pk=pk, referral__in=referral.chain()).first()
    if found is None:
        raise Http404("no such attachment")
    response = HttpResponse(bytes(found.data), content_type=found.content_type)
    response["Content-Disposition"] = f'attachment; filename="{found.name}"'
    return response


def _worklist_page(request, queryset, template_extra: dict, what: str):
    page = Paginator(queryset, rules.limits()["page"]).get_page(
        parse_int(request.GET.get("page"), "page") or 1
    )
    rows = [(r, _state(r), machine.overdue(r)) for r in page.object_list]
    audit.record(request, action="read", what=what)
    return render(
        request, "referrals/worklist.html", {"page": page, "rows": rows, **template_extra}
    )


def triage_queue(request):
    """The receiving service's queue: what waits on the service, overdue first."""
    if refused := _staff_only(request, "referral triage queue"):
        return refused
    service = Service.objects.filter(org_id=request.user.service_id).first()
    if service is None:
        return _refuse(
            request,
            "referral triage queue",
            "your account is not with a service in the directory",
        )
    if request.method == "POST":  # the service's capacity and waiting time, now
        capacity = parse_choice(request.POST.get("capacity"), "capacity", dict(CAPACITY))
        weeks = parse_int(request.POST.get("waiting_weeks"), "waiting_weeks")
        if not capacity or (weeks is not None and not 0 <= weeks <= 104):
            raise BadRequest("capacity is required, and waiting weeks from 0 to 104")
        service.capacity, service.waiting_weeks = capacity, weeks
        service.status_updated = timezone.now()
        service.save(update_fields=["capacity", "waiting_weeks", "status_updated"])
        return redirect("referrals_queue")
    only_overdue = request.GET.get("overdue") == "yes"
    found = worklists.service_queue(service, only_overdue=only_overdue)
    return _worklist_page(
        request,
        found,
        {
            "title": f"{service}: triage and advice queue",
            "service": service,
            "queue": True,
            "only_overdue": only_overdue,
            "here": reverse("referrals_queue"),
            "capacities": dict(CAPACITY),
        },
        "referral triage queue",
    )


def referrer_worklist(request):
    """The referrer's worklist: open referrals the user's organisation made, those waiting
    on the referrer and the overdue first."""
    if refused := _staff_only(request, "referrer worklist"):
        return refused
    only_overdue = request.GET.get("overdue") == "yes"
    found = worklists.referrer_list(request.user, only_overdue=only_overdue)
    return _worklist_page(
        request,
        found,
        {
            "title": "Referrals and advice requests",
            "queue": False,
            "only_overdue": only_overdue,
            "here": reverse("referrals_worklist"),
        },
        "referrer worklist",
    )


def centre_worklist(request):
    """The co-ordination centre: everything open for each patient in the user's scope, in one
    place (referrals, requests, care tasks, and what later apps register)."""
    if refused := _staff_only(request, "co-ordination centre worklist"):
        return refused
    if not request.user.role_info.register_pool and not request.user.role_info.practice_list:
        return _refuse(
            request,
            "co-ordination centre worklist",
            "the centre's worklist is for co-ordinators and practice staff",
        )
    page_no = parse_int(request.GET.get("page"), "page") or 1
    groups, page = worklists.centre(request.user, page_no)
    audit.record(request, action="read", what="co-ordination centre worklist")
    return render(request, "referrals/centre.html", {"groups": groups, "page": page})
