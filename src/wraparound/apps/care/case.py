"""Status and named GP / care co-ordinator changes, each written to the case history, and
the care team kept in step (a named person is always on the care team)."""

from __future__ import annotations

from django.db import transaction

from wraparound.apps.care.models import CareTeamMember, CaseEvent, CaseRecord


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


def name_person(patient, team_role: str, user, by) -> None:
    """Make ``user`` the patient's named GP or co-ordinator (``team_role``), ending the
    previous holder's place on the care team."""
    with transaction.atomic():
        case, _ = CaseRecord.objects.get_or_create(patient=patient)
        current = getattr(case, f"{team_role}_id")
        if current == (user.pk if user else None):
            return
        CareTeamMember.objects.filter(patient=patient, team_role=team_role, active=True).update(
            active=False
        )
        setattr(case, team_role, user)
        case.save()
        if user is not None:
            CareTeamMember.objects.create(patient=patient, user=user, team_role=team_role)
        CaseEvent.objects.create(
            patient=patient,
            field=team_role,
            value=user.get_full_name() if user else "(none)",
            by=by,
        )


def add_member(patient, user, by) -> None:
    if CareTeamMember.objects.filter(patient=patient, user=user, active=True).exists():
        return
    CareTeamMember.objects.create(patient=patient, user=user, team_role="member")
    CaseEvent.objects.create(patient=patient, field="member", value=user.display(), by=by)
