"""MDT meetings: building the chair's agenda and recording each discussion in one format.

The agenda is built from what the app already knows, in the order a chair works through it:
new high-needs patients (entered the register in the latest run), recent emergency
admissions and A&E attendances (alerts since the team's previous meeting, or the last 30
days), care-plan reviews due by the meeting, and cases members raise by hand. Each source
adds at most ``PER_REASON`` patients so the agenda stays one meeting long.

Putting a patient on an agenda grants the meeting's members an ``mdt`` relationship (for the
meeting's window, see ``care/relationships.py``), so it is done on someone's behalf: the
agenda builder adds only patients the person building it holds a relationship with that
allows ``mdt.add`` (never break-glass, a booking or another MDT), and each item records who
that was and on what basis.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from wraparound.apps.care.models import AgendaItem, Alert, CarePlan, MdtMeeting, Task
from wraparound.apps.records.models import Patient
from wraparound.apps.records.relationships import first_allowing, policy
from wraparound.apps.registers.models import RegisterEntry

PER_REASON = 10
LOOKBACK_DAYS = 30


def team_patients(meeting: MdtMeeting):
    if meeting.team.kind == "practice":
        return Patient.objects.filter(practice_id=meeting.team_id)
    return Patient.objects.filter(neighbourhood_id=meeting.team_id)


def date_problem(date: dt.date | None, today: dt.date) -> str | None:
    """Why a meeting cannot be called for ``date`` (``[mdt]`` in data/relationships.toml),
    or None."""
    rules = policy().mdt
    if date is None:
        return "Enter the date of the meeting as YYYY-MM-DD"
    earliest = today - dt.timedelta(days=rules["call_days_before_today"])
    latest = today + dt.timedelta(days=rules["call_days_after_today"])
    if date < earliest:
        return f"The meeting cannot be more than {rules['call_days_before_today']} days ago"
    if date > latest:
        return f"The meeting cannot be more than {rules['call_days_after_today']} days ahead"
    return None


def build_agenda(meeting: MdtMeeting, actor) -> list[AgendaItem]:
    """Add the patients the sources suggest and ``actor`` may add; the items created."""
    patients = team_patients(meeting).values("pk")
    previous = (
        MdtMeeting.objects.filter(team=meeting.team, date__lt=meeting.date)
        .order_by("-date")
        .first()
    )
    since = previous.date if previous else meeting.date - dt.timedelta(days=LOOKBACK_DAYS)
    sources = [
        (
            "new_high_needs",
            RegisterEntry.current()
            .filter(patient__in=patients, is_new=True, stream="high")
            .order_by("-score")
            .values_list("patient_id", flat=True),
        ),
        (
            "admission",
            Alert.objects.filter(
                patient__in=patients, kind="emergency_admission", occurred_at__date__gte=since
            ).values_list("patient_id", flat=True),
        ),
        (
            "ae",
            Alert.objects.filter(
                patient__in=patients, kind="ae_attendance", occurred_at__date__gte=since
            ).values_list("patient_id", flat=True),
        ),
        (
            "review_due",
            CarePlan.objects.filter(patient__in=patients, review_date__lte=meeting.date)
            .order_by("review_date")
            .values_list("patient_id", flat=True),
        ),
    ]
    added: list[AgendaItem] = []
    with transaction.atomic():
        for reason, ids in sources:
            taken = 0
            for pid in dict.fromkeys(ids):
                if taken == PER_REASON:
                    break
                patient = Patient.objects.get(pk=pid)
                rel = first_allowing(actor, patient, "mdt.add")
                if rel is None:
                    continue
                taken += 1
                item, created = AgendaItem.objects.get_or_create(
                    meeting=meeting,
                    patient=patient,
                    defaults={"reason": reason, "raised_by": actor, "raised_basis": rel.kind},
                )
                if created:
                    added.append(item)
    return added


def record_outcome(item: AgendaItem, summary: str, decisions: str, actions: list[dict]) -> None:
    """Save the discussion and put each action on its owner's task list."""
    with transaction.atomic():
        item.summary, item.decisions = summary, decisions
        item.discussed_at = timezone.now()
        item.save()
        Task.objects.bulk_create(
            [
                Task(
                    assignee=a["owner"],
                    patient=item.patient,
                    what=a["what"],
                    due=a["due"],
                    source="mdt",
                    agenda_item=item,
                )
                for a in actions
            ]
        )
