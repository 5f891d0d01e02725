"""Feedback pages.

- ``/feedback/<token>`` (public, like the FFT links sent by SMS): the question and its
  free-text follow-ups. The page names no patient and no service; a token that is unknown,
  malformed, used or expired gets a clear page and records nothing. Answering uses the
  token (once: the flag is set in the same transaction as the response is stored, by a
  conditional update, so two submissions cannot both count).
- ``/fft/results/`` (staff with scorecards or dashboards): the monthly roll-up, true counts.
- ``/fft/comments/`` (the service's own staff only): free text for the user's service.
- ``/public/feedback/``: the roll-up under disclosure control, no free text.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone

from wraparound.analytics.disclosure import RULE
from wraparound.apps.feedback import rollup
from wraparound.apps.feedback.content import fft
from wraparound.apps.feedback.models import Offer, Response
from wraparound.apps.records import audit

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _closed(request, reason: str, status: int):
    return render(request, "feedback/closed.html", {"reason": reason}, status=status)


def form(request, token: str):
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    offer = Offer.objects.filter(token=token).first() if TOKEN.match(token) else None
    if offer is None:
        return _closed(request, "unknown", 404)
    if offer.used:
        return _closed(request, "used", 410)
    if offer.expires_at <= timezone.now():
        return _closed(request, "expired", 410)
    content = fft()
    context = {"fft": content, "errors": {}, "chosen": "", "texts": {}}
    if request.method != "POST":
        return render(request, "feedback/form.html", context)
    answer = request.POST.get("answer", "")
    texts = {f.code: request.POST.get(f.code, "").strip() for f in content.free_text}
    errors = {}
    if answer not in dict(content.answers):
        errors["answer"] = "Select how your experience was"
    for f in content.free_text:
        if len(texts[f.code]) > f.max_length:
            errors[f.code] = f"Use {f.max_length} characters or fewer"
    if errors:
        context.update(errors=errors, chosen=answer, texts=texts)
        return render(request, "feedback/form.html", context, status=400)
    now = timezone.now()
    with transaction.atomic():
        took = Offer.objects.filter(pk=offer.pk, used=False, expires_at__gt=now).update(used=True)
        if not took:
            return _closed(request, "used", 410)
        Response.objects.create(
            touchpoint=offer.touchpoint,
            service_code=offer.service_code,
            service_name=offer.service_name,
            service_org_id=offer.service_org_id,
            practice_id=offer.practice_id,
            hub_id=offer.hub_id,
            month=timezone.localdate(now).replace(day=1),
            answer=answer,
            free_text={k: v for k, v in texts.items() if v},
            fft_version=content.version,
        )
    return render(request, "feedback/thanks.html")


def _staff_results_allowed(user) -> bool:
    role = user.role_info
    return role.scorecards or role.access_dashboards


def results(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not _staff_results_allowed(request.user):
        audit.record(request, action="denied", what="FFT results", outcome="denied")
        return render(request, "feedback/refused.html", status=403)
    audit.record(request, action="read", what="FFT results (counts, no free text)")
    return render(
        request,
        "feedback/results.html",
        {"groups": _grouped(rollup.rows()), "public": False, "fft": fft()},
    )


def public_results(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return render(
        request,
        "feedback/results.html",
        {"groups": _grouped(rollup.public_rows()), "public": True, "rule": RULE, "fft": fft()},
    )


def _grouped(rows):
    labels = {"practice": "By practice", "hub": "By hub", "service": "By service"}
    return [
        (
            labels[level],
            sorted(
                (r for r in rows if r.level == level), key=lambda r: (r.month, r.name), reverse=True
            ),
        )
        for level in rollup.LEVELS
    ]


def service_scope(user) -> Q | None:
    """The responses whose free text this user's service may read, or None: the user's own
    service (hub, referral service), or for practice-list roles at a practice their own
    practice. Commissioners, administrators, auditors and everyone else: none."""
    role = user.role_info
    if not role.direct_care:
        return None
    if user.service_id:
        return Q(service_org_id=user.service_id)
    if role.practice_list and user.scope == "practice":
        return Q(service_org_id=user.scope_org_id)
    return None


def comments(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    scope = service_scope(request.user)
    if scope is None:
        audit.record(request, action="denied", what="FFT free text", outcome="denied")
        return render(request, "feedback/refused.html", {"free_text": True}, status=403)
    found = (
        Response.objects.filter(scope).exclude(free_text={}).order_by("-month", "touchpoint", "pk")
    )[:500]
    content = fft()
    questions = {f.code: f.text for f in content.free_text}
    items = [
        {
            "month": r.month,
            "touchpoint": content.touchpoints[r.touchpoint].label
            if r.touchpoint in content.touchpoints
            else r.touchpoint,
            "answer": content.answer_label(r.answer),
            "texts": [(questions.get(k, k), v) for k, v in r.free_text.items()],
        }
        for r in found
    ]
    audit.record(request, action="read", what="FFT free text for the user's service")
    return render(request, "feedback/comments.html", {"items": items})
