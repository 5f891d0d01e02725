"""Recording a review or assessment on the patient page (long-term condition review, frailty
assessment, learning disability annual health check): what the indicators count as app
events and nothing else in the app records.

Behind the one gate (``access.patient_view``): a legitimate relationship with the patient,
and a role that records reviews (``Role.records_reviews``). Every request, allowed or
refused, leaves one audit row; a recorded review is a ``write``.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.shortcuts import redirect, render

from wraparound.apps.care.careplan import parse_date
from wraparound.apps.care.models import REVIEW_KINDS, ClinicalReview
from wraparound.apps.records.access import patient_view


def read_form(post, patient, today: dt.date) -> tuple[dict, dict[str, str]]:
    """The review from a POST, and the problem with each field (empty if none)."""
    errors: dict[str, str] = {}
    kind = post.get("kind", "")
    if kind not in dict(REVIEW_KINDS):
        errors["kind"] = "Choose what was done"
    date = parse_date(post.get("date", ""))
    if date is None:
        errors["date"] = "Enter the date it took place as YYYY-MM-DD"
    elif date > today:
        errors["date"] = "The date it took place cannot be in the future"
    elif patient.birth_date and date < patient.birth_date:
        errors["date"] = "The date it took place cannot be before the patient was born"
    return {"kind": kind, "date": date}, errors


@patient_view("record a review", writes=True, permission="records_reviews", needs="review.record")
def reviews(request, patient):
    today = dt.date.today()
    errors: dict[str, str] = {}
    values = {"kind": "", "date": today.isoformat()}
    if request.method == "POST":
        data, errors = read_form(request.POST, patient, today)
        if not errors:
            review = ClinicalReview.objects.create(
                patient=patient, kind=data["kind"], date=data["date"], recorded_by=request.user
            )
            messages.success(
                request,
                f"{review.get_kind_display()} on {review.date.day} {review.date:%B %Y} recorded.",
            )
            return redirect("patient", pk=patient.pk)
        values = {"kind": request.POST.get("kind", ""), "date": request.POST.get("date", "")}
    return render(
        request,
        "care/reviews.html",
        {
            "patient": patient,
            "kinds": REVIEW_KINDS,
            "values": values,
            "errors": errors,
            "recorded": patient.reviews.select_related("recorded_by")[:50],
        },
        status=400 if errors else 200,
    )
