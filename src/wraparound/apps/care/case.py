"""Status and named GP / care co-ordinator changes, each written to the case history, and
the care team kept in step (a named person is always on the care team).

A place on the care team is a ``caseload`` relationship, so each records its source: who
added the person and the basis they acted on (their own relationship with the patient, or
``demo``/``system``). Changes that grant or end a place are returned as :class:`Change` so the
view can audit each one; the gate has already refused anyone whose basis does not allow
managing the care team (never break-glass, booking or MDT).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from wraparound.apps.care.models import CareTeamMember, CaseEvent, CaseRecord
from wraparound.apps.records.access import record_end, record_grant

TEAM_FIELDS = ("named_gp", "coordinator", "member")


@dataclass(frozen=True)
class Change:
    granted: bool  # True: a place on the care team began; False: one ended
    user: object
    team_role: str


def actions_needed(request) -> tuple[str, ...]:
    """What the case page needs the user's relationship to allow: reading it; any POST
    changes the case (``case.status``), and naming someone or adding a member also manages
    the care team (``care_team.manage``), which creates relationships."""
    if request.method != "POST":
        return ("read",)
    if any(request.POST.get(f) for f in TEAM_FIELDS):
        return ("care_team.manage", "case.status")
    return ("case.status",)


def audit_changes(request, patient, changes: list[Change]) -> None:
    """One audit row per place on the care team granted or ended."""
    for change in changes:
        record = record_grant if change.granted else record_end
        record(
            request,
            patient,
            "caseload",
            change.user.username,
            f"care team ({change.team_role}) by {request.user.username}",
        )


def set_status(patient, status: str, by, note: str = "") -> None:
    with transaction.atomic():
        case, _ = CaseRecord.objects.get_or_create(patient=patient)
        if case.status == status:
            return
        case.status = status
        case.save()
        CaseEvent.objects.create(
            patient=patient, field="status", value=case.get_status_display(), note=note, by=by
        )


def _end(patient, **filters) -> list[Change]:
    ended = list(
        CareTeamMember.objects.filter(patient=patient, active=True, **filters).select_related(
            "user"
        )
    )
    CareTeamMember.objects.filter(pk__in=[m.pk for m in ended]).update(
        active=False, ended_at=timezone.now()
    )
    return [Change(False, m.user, m.team_role) for m in ended]


def name_person(patient, team_role: str, user, by, basis: str = "system") -> list[Change]:
    """Make ``user`` the patient's named GP or co-ordinator (``team_role``), ending the
    previous holder's place on the care team."""
    with transaction.atomic():
        case, _ = CaseRecord.objects.get_or_create(patient=patient)
        current = getattr(case, f"{team_role}_id")
        if current == (user.pk if user else None):
            return []
        changes = _end(patient, team_role=team_role)
        setattr(case, team_role, user)
        case.save()
        if user is not None:
            CareTeamMember.objects.create(
                patient=patient, user=user, team_role=team_role, added_by=by, added_basis=basis
            )
            changes.append(Change(True, user, team_role))
        CaseEvent.objects.create(
            patient=patient,
            field=team_role,
            value=user.get_full_name() if user else "(none)",
            by=by,
        )
        return changes


def add_member(patient, user, by, basis: str = "system") -> list[Change]:
    if CareTeamMember.objects.filter(patient=patient, user=user, active=True).exists():
        return []
    with transaction.atomic():
        CareTeamMember.objects.create(
            patient=patient, user=user, team_role="member", added_by=by, added_basis=basis
        )
        CaseEvent.objects.create(patient=patient, field="member", value=user.display(), by=by)
    return [Change(True, user, "member")]
