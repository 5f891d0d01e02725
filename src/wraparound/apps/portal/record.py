"""What the portal shows of a patient's record, after what the practice chose not to show
online (``data/portal/online_visibility.toml`` by category, ``HiddenItem`` per item)."""

from __future__ import annotations

import dataclasses
import functools

from django.utils import timezone

from wraparound import clinical
from wraparound.apps.access.models import Appointment
from wraparound.apps.care.models import CarePlan, CareTeamMember, CaseRecord
from wraparound.apps.care.record_index import PatientRecord, patient_record
from wraparound.apps.portal import rules
from wraparound.apps.portal.models import HiddenItem
from wraparound.apps.records.allergies import AllergyRecord, allergy_record


@functools.cache
def _register_names() -> dict[str, str]:
    return {r.register_id: r.name for r in clinical.registers()}


@dataclasses.dataclass
class Contact:
    role: str
    name: str
    organisation: str


@dataclasses.dataclass
class Summary:
    shown: frozenset[str]
    practice: str = ""
    named_gp: str = ""
    coordinator: str = ""
    team: list[Contact] = dataclasses.field(default_factory=list)
    conditions: list[str] = dataclasses.field(default_factory=list)
    record: PatientRecord | None = None
    allergies: AllergyRecord | None = None  # None: the category is not shown online
    hidden_count: int = 0


def _who(user) -> str:
    return (user.get_full_name() or user.username) if user else ""


def hidden(patient) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for category, item in HiddenItem.objects.filter(patient=patient).values_list(
        "category", "item"
    ):
        out.setdefault(category, set()).add(item)
    return out


def care_team(patient) -> tuple[str, str, list[Contact]]:
    case = (
        CaseRecord.objects.filter(patient=patient).select_related("named_gp", "coordinator").first()
    )
    team = [
        Contact(
            m.get_team_role_display(),
            _who(m.user),
            str(m.user.service or m.user.scope_org),
        )
        for m in CareTeamMember.objects.filter(patient=patient, active=True).select_related(
            "user", "user__service", "user__scope_org"
        )
    ]
    return (_who(case.named_gp) if case else "", _who(case.coordinator) if case else "", team)


def summary(patient) -> Summary:
    shown = rules.shown_categories(patient.practice_id)
    out = Summary(shown=shown)
    hide = hidden(patient)
    if "care_team" in shown:
        out.practice = str(patient.practice) if patient.practice_id else ""
        out.named_gp, out.coordinator, out.team = care_team(patient)
    if "conditions" in shown:
        names = _register_names()
        out.conditions = [
            names.get(c, c)
            for c in patient.conditions
            if names.get(c, c) not in hide.get("conditions", set())
        ]
    if shown & {"medicines", "results"}:
        rec = patient_record(patient)
        if "medicines" not in shown:
            rec.medicines = []
        if "results" not in shown:
            rec.results = []
        rec.medicines = [m for m in rec.medicines if m.name not in hide.get("medicines", set())]
        rec.results = [r for r in rec.results if r.label not in hide.get("results", set())]
        out.record = rec
    if "allergies" in shown:
        out.allergies = allergy_record(patient, hide.get("allergies", set()))
    out.hidden_count = sum(len(v) for v in hide.values())
    return out


def appointments(patient) -> tuple[list[Appointment], list[Appointment]]:
    """(coming, past) hub appointments."""
    now = timezone.now()
    rows = list(Appointment.objects.filter(patient=patient).select_related("hub").order_by("start"))
    coming = [a for a in rows if a.start >= now and a.active]
    past = [a for a in rows if not (a.start >= now and a.active)][::-1]
    return coming, past[:20]


def care_plan(patient):
    plan = CarePlan.objects.filter(patient=patient).first()
    return plan.versions.order_by("-number").first() if plan else None
