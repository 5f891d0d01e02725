"""The relationships the care app holds the records of, registered with the one relationship
model (``records.relationships``) from ``CareConfig.ready()``:

``caseload``  an active place on the patient's care team (named GP, co-ordinator, member);
``mdt``       the patient is on the agenda of an MDT meeting the user is a member of, today
              is inside the meeting's window (``[kind.mdt]`` in ``data/relationships.toml``:
              from ``days_before`` the meeting to ``days_after`` it), and the patient's
              practice is inside the user's own scope: a practice GP on a neighbourhood MDT
              gains nothing for other practices' patients by being a member.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from wraparound.apps.care.models import AgendaItem, CareTeamMember
from wraparound.apps.records.relationships import Relationship, policy, register_provider


def caseload(user, patient, now):
    for member in CareTeamMember.objects.filter(
        patient=patient, user=user, active=True
    ).select_related("added_by"):
        added_by = member.added_by.get_full_name() if member.added_by else "the system"
        yield Relationship(
            "caseload",
            source=f"care team ({member.get_team_role_display()}): added by {added_by}",
            source_basis=member.added_basis,
            start=member.since,
            end=member.ended_at,
        )


def mdt(user, patient, now):
    """The agenda items come first: most users are on no meeting with most patients, and the
    gate asks this on every request, so the scope check's query runs only when there is an
    item for it to refuse."""
    today = timezone.localdate(now)
    rules = policy().kinds["mdt"]
    earliest = today - dt.timedelta(days=rules["days_after"])
    latest = today + dt.timedelta(days=rules["days_before"])
    items = list(
        AgendaItem.objects.filter(
            patient=patient,
            meeting__members=user,
            meeting__date__gte=earliest,
            meeting__date__lte=latest,
        ).select_related("meeting", "meeting__team", "raised_by")
    )
    if not items or not user.covers_practice(patient.practice):
        return
    for item in items:
        meeting = item.meeting
        if meeting.team_id not in (patient.practice_id, patient.neighbourhood_id):
            continue  # an agenda item for a patient outside the meeting's team
        start, end = policy().mdt_window(meeting.date)
        raised = item.raised_by.get_full_name() if item.raised_by else "the agenda builder"
        yield Relationship(
            "mdt",
            source=(
                f"MDT {meeting.team} {meeting.date:%Y-%m-%d}: "
                f"{item.get_reason_display()}, added by {raised}"
            ),
            source_basis=item.raised_basis,
            start=start,
            end=end,
            on=meeting.date,
        )


def register() -> None:
    register_provider("caseload", caseload)
    register_provider("mdt", mdt)
