"""MDT pages: meetings I belong to, a meeting's agenda and attendance, adding a patient to an
agenda, and recording the outcome for each patient discussed.

Calling a meeting and putting a patient on its agenda grant the members an ``mdt``
relationship, so both are audited: the meeting itself (who called it, for when, which team)
and one ``grant`` row per patient added. The agenda page lists only the patients the member
may open; the others are counted, not named.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render

from wraparound.apps.care.careplan import ACTION_ROWS, parse_date
from wraparound.apps.care.mdt import build_agenda, date_problem, record_outcome
from wraparound.apps.care.models import AgendaItem, MdtMeeting
from wraparound.apps.care.staff import staff_for
from wraparound.apps.records import audit
from wraparound.apps.records.access import patient_view, record_grant
from wraparound.apps.records.models import User
from wraparound.apps.records.relationships import first_allowing, policy
from wraparound.vocabulary import MDT_CHAIR_ROLES, MDT_ROLES, NO_DIRECT_CARE_ROLES

CHAIR_ROLES = MDT_CHAIR_ROLES


def is_id(value: str) -> bool:
    """A row id as a form sends it: ASCII digits that fit a database integer."""
    return value.isascii() and value.isdigit() and len(value) < 19


def audit_agenda(request, meeting: MdtMeeting, items: list[AgendaItem]) -> None:
    """One ``grant`` row per patient put on the agenda: the members now hold ``mdt``."""
    start, end = policy().mdt_window(meeting.date)
    for item in items:
        record_grant(
            request,
            item.patient,
            "mdt",
            f"members of MDT meeting {meeting.pk}",
            f"{item.get_reason_display()}, {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            basis=item.raised_basis,
        )


def mdt_list(request):
    meetings = (
        MdtMeeting.objects.filter(Q(members=request.user) | Q(chair=request.user))
        .distinct()
        .select_related("team", "chair")
    )
    can_call = request.user.role in CHAIR_ROLES and request.user.scope != "locality"
    error = ""
    if request.method == "POST":
        if not can_call:
            audit.record(request, action="denied", what="call an MDT meeting", outcome="denied")
            return HttpResponseForbidden("Only a GP or care co-ordinator can call an MDT.")
        date = parse_date(request.POST.get("date", ""))
        error = date_problem(date, dt.date.today())
        if error is None:
            meeting = MdtMeeting.objects.create(
                team=request.user.scope_org, date=date, chair=request.user
            )
            meeting.members.set(_team_members(request.user.scope_org))
            meeting.members.add(request.user)
            audit.record(
                request,
                action="write",
                what=(
                    f"MDT meeting {meeting.pk} called: {meeting.team} on {date:%Y-%m-%d}, "
                    f"{meeting.members.count()} members"
                ),
            )
            audit_agenda(request, meeting, build_agenda(meeting, request.user))
            return redirect("mdt_detail", meeting_id=meeting.pk)
        audit.record(
            request, action="denied", what=f"call an MDT meeting: {error}", outcome="denied"
        )
    else:
        audit.record(request, action="read", what="MDT meeting list")
    return render(
        request,
        "care/mdt_list.html",
        {
            "meetings": meetings,
            "can_call": can_call,
            "today": request.POST.get("date", "") if error else dt.date.today().isoformat(),
            "error": error,
        },
        status=400 if error else 200,
    )


def _team_members(team):
    """Everyone with an MDT role or a GP whose scope is this team or inside it."""
    scoped = Q(scope_org=team) | Q(scope_org__parent=team)
    return User.objects.filter(scoped, is_active=True).filter(Q(role__in=("gp", *MDT_ROLES)))


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
            added = build_agenda(meeting, request.user)
            audit.record(request, action="write", what=f"MDT meeting {meeting.pk}: agenda rebuilt")
            audit_agenda(request, meeting, added)
            n = len(added)
            messages.success(request, f"{n} patient{'s' * (n != 1)} added to the agenda.")
        else:
            chosen = [v for v in request.POST.getlist("attended") if is_id(v)]
            meeting.attended.set(meeting.members.filter(pk__in=chosen))
            audit.record(request, action="write", what=f"MDT meeting {meeting.pk}: attendance")
            messages.success(request, "Attendance saved.")
        return redirect("mdt_detail", meeting_id=meeting.pk)
    audit.record(request, action="read", what=f"MDT meeting {meeting.pk} agenda")
    items = meeting.items.select_related("patient", "raised_by").order_by("reason", "id")
    shown = [i for i in items if first_allowing(request.user, i.patient, "read")]
    return render(
        request,
        "care/mdt_detail.html",
        {
            "meeting": meeting,
            "items": shown,
            "hidden": len(items) - len(shown),
            "members": meeting.members.order_by("last_name"),
            "attended": set(meeting.attended.values_list("pk", flat=True)),
        },
    )


@patient_view("MDT agenda (add patient)", writes=True, needs="mdt.add")
def mdt_add(request, patient):
    earliest = dt.date.today() - dt.timedelta(days=policy().mdt["call_days_before_today"])
    meetings = (
        MdtMeeting.objects.filter(members=request.user, date__gte=earliest)
        .filter(Q(team_id=patient.neighbourhood_id) | Q(team_id=patient.practice_id))
        .select_related("team")
    )
    if request.method == "POST":
        chosen = request.POST.get("meeting", "")
        meeting = meetings.filter(pk=chosen).first() if is_id(chosen) else None
        if meeting is None:
            return render(
                request,
                "care/mdt_add.html",
                {"patient": patient, "meetings": meetings, "error": "Choose a meeting"},
                status=400,
            )
        item, created = AgendaItem.objects.get_or_create(
            meeting=meeting,
            patient=patient,
            defaults={
                "reason": "raised",
                "raised_by": request.user,
                "raised_basis": request.access_basis,
            },
        )
        if created:
            audit_agenda(request, meeting, [item])
        messages.success(request, f"{patient} is on the agenda for {meeting.date:%-d %B %Y}.")
        return redirect("mdt_detail", meeting_id=meeting.pk)
    return render(request, "care/mdt_add.html", {"patient": patient, "meetings": meetings})


@patient_view("MDT discussion", writes=True, needs="mdt.outcome")
def mdt_outcome(request, patient, item_id):
    item = get_object_or_404(
        AgendaItem.objects.select_related("meeting", "meeting__team"), pk=item_id, patient=patient
    )
    owners = list(staff_for(patient).exclude(role__in=NO_DIRECT_CARE_ROLES))
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
