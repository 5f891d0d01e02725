"""Caseload, tasks, alerts, and the case page (status, named GP and co-ordinator, care team)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from wraparound.apps.care import case as case_ops
from wraparound.apps.care.models import STATUSES, Alert, CareTeamMember, CaseRecord, Task
from wraparound.apps.care.staff import staff_for
from wraparound.apps.records import audit
from wraparound.apps.records.access import patient_view
from wraparound.apps.records.relationships import first_allowing
from wraparound.vocabulary import NO_DIRECT_CARE_ROLES
from wraparound.web.bad_request import parse_int


def caseload(request):
    members = (
        CareTeamMember.objects.filter(user=request.user, active=True)
        .select_related("patient", "patient__case", "patient__practice")
        .order_by("patient__family_name")
    )
    audit.record(request, action="read", what="caseload list")
    return render(request, "care/caseload.html", {"members": members})


def tasks(request):
    mine = Task.objects.filter(assignee=request.user, done_at=None).select_related("patient")
    queue = Task.objects.none()
    if request.user.role_info.practice_list:
        queue = Task.objects.filter(
            assignee=None, done_at=None, patient__practice__in=request.user.practices()
        ).select_related("patient")
    audit.record(request, action="read", what="task list")
    return render(request, "care/tasks.html", {"tasks": mine, "queue": queue})


@require_POST
def task_done(request, task_id):
    task = get_object_or_404(Task, pk=task_id, assignee=request.user)
    task.done_at = timezone.now()
    task.save(update_fields=["done_at"])
    audit.record(
        request,
        patient=task.patient,
        action="write",
        what=f"task done: {task.what}",
        basis="caseload",
    )
    return redirect("tasks")


def my_alerts(user):
    """Alerts for patients the user is named GP or co-ordinator for."""
    patients = CaseRecord.objects.filter(Q(named_gp=user) | Q(coordinator=user)).values(
        "patient_id"
    )
    return Alert.objects.filter(patient_id__in=patients).select_related("patient")


def alerts(request):
    audit.record(request, action="read", what="alert list")
    return render(request, "care/alerts.html", {"alerts": my_alerts(request.user)[:200]})


@patient_view("case status and care team", writes=True, needs=case_ops.actions_needed)
def case_manage(request, patient):
    case, _ = CaseRecord.objects.get_or_create(patient=patient)
    gps = staff_for(patient, ("gp",))
    coordinators = staff_for(patient, ("coordinator",))
    others = staff_for(patient).exclude(role__in=NO_DIRECT_CARE_ROLES)
    if request.method == "POST":
        # Look up everyone named first, so a bad id (400 for a malformed one, saying which,
        # 404 for one of nobody here) is refused before anything changes.
        named = {
            field: get_object_or_404(pool, pk=parse_int(chosen, field))
            for field, pool in (("named_gp", gps), ("coordinator", coordinators))
            if (chosen := request.POST.get(field))
        }
        member = parse_int(request.POST.get("member"), "member")
        member = get_object_or_404(others, pk=member) if member is not None else None
        status = request.POST.get("status")
        if status in dict(STATUSES):
            case_ops.set_status(patient, status, request.user, request.POST.get("note", ""))
        changes = []
        for field, user in named.items():
            changes += case_ops.name_person(
                patient, field, user, request.user, request.access_basis
            )
        if member is not None:
            changes += case_ops.add_member(patient, member, request.user, request.access_basis)
        case_ops.audit_changes(request, patient, changes)
        messages.success(request, "Case updated.")
        return redirect("case_manage", pk=patient.pk)
    return render(
        request,
        "care/case.html",
        {
            "patient": patient,
            "case": case,
            "statuses": STATUSES,
            "gps": gps,
            "coordinators": coordinators,
            "others": others,
            "history": patient.case_events.select_related("by")[:100],
            # the form only for those whose relationship lets them change the case
            "can_change": first_allowing(request.user, patient, "case.status") is not None,
            "basis": request.access_relationship,
        },
    )
