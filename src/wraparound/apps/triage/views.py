"""The practice's triage queue (``/triage/``): self-referrals and online consultations
together, urgent first, for practice staff (roles with the practice list); the review queue of
requests not yet matched to a patient (``/triage/review/``); one request, with its actions:
answer (a message through messaging), book (the access booking page), refer (the referrals
app's page, when it exists), close, and, in review, match to a patient.

A request with a patient is patient data: opened only under a relationship that allows
reading the record (``records.access.relationship``), refused and audited otherwise. Every
page that names people is audited once; every action is audited with the patient.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.db import transaction
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from wraparound.apps.messaging.api import send_message
from wraparound.apps.records import access, audit
from wraparound.apps.records.models import Patient
from wraparound.apps.triage import matching, rules
from wraparound.apps.triage.models import TriageAction, TriageRequest

ON_QUEUE = ("matched", "resolved", "known")
IN_REVIEW = ("ambiguous", "unmatched")
MAX_ANSWER = 2000


def _allowed(user) -> bool:
    return user.role_info.practice_list


def _refused(request, what: str, patient=None):
    audit.record(request, patient=patient, action="denied", what=what, outcome="denied")
    return render(request, "triage/refused.html", {"what": what}, status=403)


def _scoped(user):
    return TriageRequest.objects.filter(practice__in=user.practices())


def _flag_labels(req) -> list[str]:
    form = rules.forms().get(req.form)
    labels = {r.id: r.label for r in form.red_flags} if form else {}
    return [labels.get(f, f) for f in req.red_flags]


def queue(request):
    if not _allowed(request.user):
        return _refused(request, "triage queue")
    items = list(
        _scoped(request.user)
        .filter(match__in=ON_QUEUE)
        .exclude(status="closed")
        .select_related("patient", "practice")[:200]
    )
    for item in items:
        item.flag_labels = _flag_labels(item)
    in_review = (
        TriageRequest.objects.filter(match__in=IN_REVIEW, status="open")
        .filter(practice__in=request.user.practices())
        .count()
        + TriageRequest.objects.filter(match__in=IN_REVIEW, status="open", practice=None).count()
    )
    if items:
        audit.record(request, action="read", what=f"triage queue ({len(items)} requests)")
    return render(request, "triage/queue.html", {"items": items, "in_review": in_review})


def _review_items(user):
    from django.db.models import Q

    return TriageRequest.objects.filter(match__in=IN_REVIEW, status="open").filter(
        Q(practice__in=user.practices()) | Q(practice=None)
    )


def review(request):
    if not _allowed(request.user):
        return _refused(request, "triage review queue")
    items = list(_review_items(request.user)[:200])
    for item in items:
        item.flag_labels = _flag_labels(item)
    if items:
        audit.record(request, action="read", what=f"triage review queue ({len(items)} requests)")
    return render(request, "triage/review.html", {"items": items})


def _load(request, request_id: int):
    """The request and whether this user may open it: (request, refusal response or None)."""
    req = get_object_or_404(
        TriageRequest.objects.select_related("patient", "practice"), pk=request_id
    )
    if not _allowed(request.user):
        return req, _refused(request, f"triage request {req.reference}", req.patient)
    if req.patient is not None:
        basis = access.relationship(request.user, req.patient)
        if basis is None:
            return req, _refused(
                request, f"triage request {req.reference}: no relationship", req.patient
            )
        request.access_basis = basis
    elif not _review_items(request.user).filter(pk=req.pk).exists():
        return req, _refused(request, f"triage request {req.reference}")
    return req, None


def _link(name: str, patient: Patient) -> str | None:
    try:
        return reverse(name, kwargs={"pk": patient.pk})
    except NoReverseMatch:
        return None


def detail(request, request_id: int):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    req, refused = _load(request, request_id)
    if refused:
        return refused
    form = rules.forms().get(req.form)
    questions = {q.id: q.label for q in form.questions} if form else {}
    answers = [(questions.get(k, k), v) for k, v in req.answers.items()]
    candidates = []
    if req.patient is None:
        candidates = list(
            Patient.objects.filter(
                pk__in=req.identity.get("candidates") or [], practice__in=request.user.practices()
            )
        )
    audit.record(
        request,
        patient=req.patient,
        action="read",
        what=f"triage request {req.reference}",
        basis=getattr(request, "access_basis", ""),
    )
    return render(
        request,
        "triage/detail.html",
        {
            "req": req,
            "form": form,
            "answers": answers,
            "flag_labels": _flag_labels(req),
            "advice": rules.advice().get(req.advice),
            "actions": req.actions.select_related("user", "message"),
            "candidates": candidates,
            "book_url": _link("access_book", req.patient) if req.patient else None,
            "refer_url": _link("referrals_patient", req.patient) if req.patient else None,
            "max_answer": MAX_ANSWER,
        },
    )


def _post_only(view):
    def wrapper(request, request_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        req, refused = _load(request, request_id)
        if refused:
            return refused
        return view(request, req)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _bad(request, req, text: str):
    return render(request, "triage/bad.html", {"req": req, "text": text}, status=400)


def _act(request, req, action: str, note: str = "", message=None, responded: bool = False):
    now = timezone.now()
    TriageAction.objects.create(
        request=req, user=request.user, action=action, note=note, message=message
    )
    fields = []
    if responded and req.first_response_at is None:
        req.first_response_at = now
        fields.append("first_response_at")
    status = {"answer": "answered", "book": "booked", "refer": "referred", "close": "closed"}.get(
        action
    )
    if status:
        req.status = status
        fields.append("status")
    if action == "close":
        req.closed_at = now
        fields.append("closed_at")
    if fields:
        req.save(update_fields=fields)
    audit.record(
        request,
        patient=req.patient,
        action="write",
        what=f"triage {action} {req.reference}",
        basis=getattr(request, "access_basis", ""),
    )


@_post_only
def answer(request, req):
    """Message the patient (messaging, the patient's preferred channel) and record it."""
    text = (request.POST.get("message") or "").strip()
    if req.patient is None:
        return _bad(request, req, "Match the request to a patient before answering it.")
    if not text or len(text) > MAX_ANSWER:
        return _bad(request, req, f"Write an answer of 1 to {MAX_ANSWER} characters.")
    with transaction.atomic():
        message = send_message(
            patient=req.patient,
            template="free_text",
            personalisation={
                "practice": req.practice.name if req.practice else "Your GP practice",
                "message": text,
            },
            purpose="triage_response",
            sender=request.user,
            reference=req.reference,
        )
        sent = message.status == "sent"
        _act(request, req, "answer", note=text, message=message, responded=sent)
    if sent:
        flash.success(
            request, f"Answer sent to the patient by {message.get_channel_display().lower()}."
        )
    else:
        flash.warning(
            request,
            f"The answer could not be sent ({message.reason}): contact the patient another way.",
        )
    return redirect("triage_detail", request_id=req.pk)


@_post_only
def record_action(request, req):
    """Book, refer or close (what staff did, from the request's page)."""
    action = request.POST.get("action", "")
    if action not in ("book", "refer", "close"):
        return _bad(request, req, "Choose book, refer or close.")
    if action != "close" and req.patient is None:
        return _bad(request, req, "Match the request to a patient first.")
    note = (request.POST.get("note") or "").strip()[:1000]
    with transaction.atomic():
        _act(request, req, action, note=note, responded=action in ("book", "refer"))
    flash.success(
        request,
        {
            "book": "Recorded as booked.",
            "refer": "Recorded as referred.",
            "close": "Request closed.",
        }[action],
    )
    return redirect(
        "triage_queue" if action == "close" else "triage_detail",
        **({} if action == "close" else {"request_id": req.pk}),
    )


@_post_only
def resolve(request, req):
    """Match a request in review to a patient of the user's practices (a candidate, or by NHS
    number), or close it as not registered here."""
    if req.patient is not None:
        return _bad(request, req, "This request is already matched to a patient.")
    nhs = matching.normalise_nhs(request.POST.get("nhs_number", ""))
    pk = request.POST.get("patient", "")
    patients = Patient.objects.filter(practice__in=request.user.practices())
    if pk.isascii() and pk.isdigit() and len(pk) < 16:
        patient = patients.filter(pk=int(pk)).first()
    elif nhs:
        patient = patients.filter(nhs_number=nhs).first()
    else:
        return _bad(request, req, "Choose a patient or enter their NHS number.")
    if patient is None:
        return _bad(request, req, "No patient of your practices has that NHS number.")
    with transaction.atomic():
        req.patient, req.match, req.practice = patient, "resolved", patient.practice
        req.save(update_fields=["patient", "match", "practice"])
        _act(request, req, "resolve", note=f"matched to {patient.nhs_number}")
    flash.success(request, "Matched to the patient; the request is on the practice queue.")
    return redirect("triage_detail", request_id=req.pk)


__all__ = ["answer", "detail", "queue", "record_action", "resolve", "review"]
