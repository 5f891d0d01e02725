"""The single patient view and its contact timeline.

The patient page gathers what the apps hold about one patient (the register entry and its
trend, the case, care team, care plan, MDT items, alerts, tasks and reviews, and the record
index), so it lives in care, which may import registers and records below it, and not in
records, which imports no other app. Both pages go through ``records.access.patient_view``:
the legitimate-relationship gate and the audit row.
"""

from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.shortcuts import render

from wraparound.apps.care.models import CarePlanVersion, CaseRecord
from wraparound.apps.care.presence import present
from wraparound.apps.care.record_index import patient_record
from wraparound.apps.care.timeline import timeline
from wraparound.apps.records.access import patient_view
from wraparound.apps.records.allergies import allergy_record
from wraparound.apps.registers.models import RegisterEntry


@patient_view("patient record")
def patient_detail(request, patient):
    entries = list(
        RegisterEntry.objects.filter(patient=patient)
        .select_related("run")
        .order_by("-run__index_date")
    )
    current = next((e for e in entries if e.run.current), None)
    # Only the lists that hold something are asked for (``presence``: one statement).
    has = present(patient.pk)
    case = (
        CaseRecord.objects.filter(patient=patient).select_related("named_gp", "coordinator").first()
        if has["case"]
        else None
    )
    # The care plan's latest version in one query (none when there is no plan yet).
    plan = (
        CarePlanVersion.objects.filter(plan__patient=patient).order_by("-number").first()
        if has["plan"]
        else None
    )
    lists = {
        "team": lambda: patient.care_team.filter(active=True).select_related("user"),
        "mdt_items": lambda: patient.agenda_items.select_related(
            "meeting", "meeting__team"
        ).order_by("-meeting__date"),
        "alerts": lambda: patient.alerts.all()[:20],
        "tasks": lambda: patient.tasks.filter(done_at=None).select_related("assignee"),
        "reviews": lambda: patient.reviews.select_related("recorded_by")[:10],
    }
    return render(
        request,
        "records/patient.html",
        {
            "patient": patient,
            "entry": current,
            "trend": entries,
            "case": case,
            "plan": plan,
            **{name: (query() if has[name] else ()) for name, query in lists.items()},
            "can_record_reviews": request.user.role_info.records_reviews,
            "basis": request.access_basis,
            "access": request.access_relationship,  # its kind, source and end, shown
            "age": age(patient.birth_date),
            "record": patient_record(patient),
            "allergies": allergy_record(patient),
        },
    )


@patient_view("contact timeline")
def patient_timeline(request, patient):
    page = Paginator(timeline(patient), 25).get_page(request.GET.get("page"))
    return render(request, "records/timeline.html", {"patient": patient, "page": page})


def age(born: dt.date | None) -> int | None:
    if born is None:
        return None
    today = dt.date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
