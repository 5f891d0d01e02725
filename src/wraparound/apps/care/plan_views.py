"""Care plan pages: the current plan and earlier versions, the editor (each save is a new
version), a print view and the FHIR R4 export."""

from __future__ import annotations

import datetime as dt
import json

from django.http import HttpResponse
from django.shortcuts import redirect, render

from wraparound.apps.care.careplan import ACTION_ROWS, read_form, save_version
from wraparound.apps.care.fhir import care_plan_bundle
from wraparound.apps.care.models import CarePlan, default_review_date
from wraparound.apps.care.staff import staff_for
from wraparound.apps.records.access import patient_view
from wraparound.vocabulary import NO_DIRECT_CARE_ROLES
from wraparound.web.bad_request import parse_int


def _plan(patient):
    return CarePlan.objects.filter(patient=patient).first()


def _version(plan, number: str | None):
    number = parse_int(number, "version")  # ?version=abc is a 400 that says so
    if plan is None:
        return None
    versions = plan.versions.select_related("author")
    return versions.filter(number=number).first() if number is not None else versions.first()


@patient_view("care plan")
def care_plan(request, patient):
    plan = _plan(patient)
    number = parse_int(request.GET.get("version"), "version")
    # Every version (newest first) in one query: the page lists them all anyway.
    versions = list(plan.versions.select_related("author")) if plan else []
    if number is None:
        version = versions[0] if versions else None
    else:
        version = next((v for v in versions if v.number == number), None)
    return render(
        request,
        "care/careplan.html",
        {"patient": patient, "plan": plan, "version": version, "versions": versions},
    )


@patient_view("care plan (print)", action="print")
def care_plan_print(request, patient):
    plan = _plan(patient)
    return render(
        request,
        "care/careplan_print.html",
        {
            "patient": patient,
            "version": _version(plan, request.GET.get("version")),
            "team": patient.care_team.filter(active=True).select_related("user"),
        },
    )


@patient_view("care plan (FHIR export)", action="export")
def care_plan_fhir(request, patient):
    version = _version(_plan(patient), None)
    if version is None:
        return HttpResponse("No care plan", status=404, content_type="text/plain")
    bundle = care_plan_bundle(
        patient, version, patient.care_team.filter(active=True).select_related("user")
    )
    response = HttpResponse(json.dumps(bundle, indent=2), content_type="application/fhir+json")
    response["Content-Disposition"] = f'attachment; filename="careplan-{patient.pk}.json"'
    return response


@patient_view("care plan (edit)", writes=True, needs="care_plan.write")
def care_plan_edit(request, patient):
    owners = list(staff_for(patient).exclude(role__in=NO_DIRECT_CARE_ROLES))
    current = _version(_plan(patient), None)
    errors: list[str] = []
    if request.method == "POST":
        data, errors = read_form(request.POST, owners)
        if not errors:
            save_version(patient, data, request.user)
            return redirect("care_plan", pk=patient.pk)
        values = request.POST
    else:
        values = _initial(current)
    actions = [
        {
            "what": values.get(f"action_{i}_what", ""),
            "owner": str(values.get(f"action_{i}_owner", "")),
            "due": values.get(f"action_{i}_due", ""),
        }
        for i in range(ACTION_ROWS)
    ]
    return render(
        request,
        "care/careplan_edit.html",
        {
            "patient": patient,
            "values": values,
            "errors": errors,
            "owners": owners,
            "actions": actions,
            "current": current,
        },
        status=400 if errors else 200,
    )


def _initial(version) -> dict:
    if version is None:
        return {
            "review_date": default_review_date().isoformat(),
            "agreed_on": dt.date.today().isoformat(),
        }
    values = {
        f: getattr(version, f)
        for f in (
            "what_matters",
            "goals",
            "escalation",
            "contingency",
            "out_of_hours",
            "agreed_how",
        )
    }
    values["review_date"] = version.review_date.isoformat()
    ltc = version.ltc_review_date
    values["ltc_review_date"] = ltc.isoformat() if ltc else ""
    values["agreed"] = "yes" if version.agreed else ""
    values["agreed_on"] = (version.agreed_on or dt.date.today()).isoformat()
    for i, a in enumerate(version.actions):
        values.update(
            {
                f"action_{i}_what": a["what"],
                f"action_{i}_owner": a["owner_id"],
                f"action_{i}_due": a["due"],
            }
        )
    return values
