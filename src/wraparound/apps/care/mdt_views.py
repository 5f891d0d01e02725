"""MDT pages: meetings I belong to, a meeting's agenda and attendance, adding a patient to an
agenda, and recording the outcome for each patient discussed."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render

from wraparound.apps.care.careplan import ACTION_ROWS, parse_date
from wraparound.apps.care.mdt import build_agenda, record_outcome
from wraparound.apps.care.models import AgendaItem, MdtMeeting
from wraparound.apps.care.staff import staff_for
from wraparound.apps.records import audit
from wraparound.apps.records.access import patient_view
from wraparound.apps.records.models import User

CHAIR_ROLES = ("gp", "coordinator")


def mdt_list(request):
    meetings = (
        MdtMeeting.objects.filter(Q(members=request.user) | Q(chair=request.user))
        .distinct()
        .select_related("team", "chair")
    )
    if request.method == "POST":
        if request.user.role not in CHAIR_ROLES or request.user.scope == "locality":
            return HttpResponseForbidden("Only a GP or care co-ordinator can call an MDT.")
        date = parse_date(request.POST.get("date", "")) or dt.date.today()
        meeting = MdtMeeting.objects.create(
            team=request.user.scope_org, date=date, chair=request.user
        )
        meeting.members.set(_team_members(request.user.scope_org))
        meeting.members.add(request.user)
        build_agenda(meeting)
        return redirect("mdt_detail", meeting_id=meeting.pk)
    audit.record(request, action="read", what="MDT meeting list")
    return render(
        request,
        "care/mdt_list.html",
        {
            "meetings": meetings,
            "can_call": request.user.role in CHAIR_ROLES,
            "today": dt.date.today().isoformat(),
        },
    )


def _team_members(team):
    """Everyone with an MDT role or a GP whose scope is this team or inside it."""
    scoped = Q(scope_org=team) | Q(scope_org__parent=team)
    return User.objects.filter(scoped, is_active=True).filter(
        Q(
            role__in=(
                "gp",
                "coordinator",
                "community_nurse",
                "social_worker",
                "pharmacist",
                "mental_health",
                "link_worker",
            )
        )
    )


def _meeting_for(request, meeting_id):
    meeting = get_object_or_404(MdtMeeting.objects.select_related("team", "chair"), pk=meeting_id)
    if not meeting.members.filter(pk=request.user.pk).exists():
        return meeting, False
    return meeting, True


def mdt_detail(request, meeting_id):
    meeting, member = _meeting_for(request, meeting_id)
    if not member:
        audit.record(request, action="denied", what=f"MDT meeting {meeting.pk}", outcome="denied")
        return HttpResponseForbidden("You are not a member of this MDT.")
    if request.method == "POST":
        if "build" in request.POST:
            added = build_agenda(meeting)
            messages.success(request, f"{added} patient{'s' * (added != 1)} added to the agenda.")
        else:
            meeting.attended.set(meeting.members.filter(pk__in=request.POST.getlist("attended")))
            messages.success(request, "Attendance saved.")
        audit.record(request, action="write", what=f"MDT meeting {meeting.pk}")
        return redirect("mdt_detail", meeting_id=meeting.pk)
    audit.record(request, action="read", what=f"MDT meeting {meeting.pk} agenda")
    items = meeting.items.select_related("patient", "raised_by").order_by("reason", "id")
    return render(
        request,
        "care/mdt_detail.html",
        {
            "meeting": meeting,
            "items": items,
            "members": meeting.members.order_by("last_name"),
            "attended": set(meeting.attended.values_list("pk", flat=True)),
        },
    )


@patient_view("MDT agenda (add patient)", writes=True)
def mdt_add(request, patient):
    meetings = (
        MdtMeeting.objects.filter(
            members=request.user, date__gte=dt.date.today() - dt.timedelta(days=7)
        )
        .filter(Q(team_id=patient.neighbourhood_id) | Q(team_id=patient.practice_id))
        .select_related("team")
    )
    if request.method == "POST":
        meeting = get_object_or_404(meetings, pk=request.POST.get("meeting"))
        AgendaItem.objects.get_or_create(
            meeting=meeting,
            patient=patient,
            defaults={"reason": "raised", "raised_by": request.user},
        )
        messages.success(request, f"{patient} is on the agenda for {meeting.date:%-d %B %Y}.")
        return redirect("mdt_detail", meeting_id=meeting.pk)
    return render(request, "care/mdt_add.html", {"patient": patient, "meetings": meetings})


@patient_view("MDT discussion", writes=True)
def mdt_outcome(request, patient, item_id):
    item = get_object_or_404(
        AgendaItem.objects.select_related("meeting", "meeting__team"), pk=item_id, patient=patient
    )
    owners = list(staff_for(patient).exclude(role__in=("commissioner", "admin", "auditor")))
    errors: list[str] = []
    values = (
        request.POST
        if request.method == "POST"
        else {"summary": item.summary, "decisions": item.decisions}
    )
    if request.method == "POST":
        by_pk = {str(u.pk): u for u in owners}
        actions = []
        for i in range(ACTION_ROWS):
            what = request.POST.get(f"action_{i}_what", "").strip()
            if not what:
                continue
            owner = by_pk.get(request.POST.get(f"action_{i}_owner", ""))
            due = parse_date(request.POST.get(f"action_{i}_due", ""))
            if owner is None or due is None:
                errors.append(f"Action {i + 1}: choose an owner and enter a due date")
            else:
                actions.append({"what": what, "owner": owner, "due": due})
        if not values.get("summary", "").strip():
            errors.append("Enter a summary of the discussion")
        if not values.get("decisions", "").strip():
            errors.append("Enter the decisions made")
        if not errors:
            record_outcome(item, values["summary"].strip(), values["decisions"].strip(), actions)
            messages.success(request, f"Outcome recorded for {patient}.")
            return redirect("mdt_detail", meeting_id=item.meeting_id)
    return render(
        request,
        "care/mdt_outcome.html",
        {
            "patient": patient,
            "item": item,
            "owners": owners,
            "values": values,
            "errors": errors,
            "rows": range(ACTION_ROWS),
            "tasks": item.tasks.select_related("assignee"),
        },
        status=400 if errors else 200,
    )
