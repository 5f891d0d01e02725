"""A care plan as FHIR R4: a collection Bundle holding the CarePlan, its CareTeam and the
Patient, with UK Core identifiers (NHS number, ODS code). Validated in the tests against the
R4 base resources with fhirclient."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
CARE_PLAN_CATEGORY = {"system": SNOMED, "code": "734163000", "display": "Care plan"}
ROLE_CODES = {
    "named_gp": ("62247001", "General practitioner"),
    "coordinator": ("768820003", "Care coordinator"),
    "member": ("223366009", "Healthcare professional"),
}


def _urn(kind: str, ident: str) -> str:
    """A stable UUID URN per resource, so references inside the Bundle resolve."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'wraparound/{kind}/{ident}')}"


def _ref(kind: str, ident: str, display: str | None = None) -> dict:
    ref = {"reference": _urn(kind, ident)}
    if display:
        ref["display"] = display
    return ref


def _instant(value: dt.datetime) -> str:
    return timezone.localtime(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def care_plan_bundle(patient, version, team) -> dict:
    """``team`` is the active care team (CareTeamMember rows with users)."""
    pid = f"patient-{patient.pk}"
    patient_res = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": NHS_NUMBER, "value": patient.nhs_number}],
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
    }
    if patient.birth_date:
        patient_res["birthDate"] = patient.birth_date.isoformat()
    if patient.sex in ("male", "female", "other", "unknown"):
        patient_res["gender"] = patient.sex
    if patient.practice_id:
        patient_res["generalPractitioner"] = [
            {
                "identifier": {"system": ODS, "value": patient.practice_id},
                "display": patient.practice.name,
            }
        ]
    team_id = f"careteam-{patient.pk}"
    participants = []
    for m in team:
        code, display = ROLE_CODES[m.team_role]
        participants.append(
            {
                "role": [
                    {
                        "coding": [{"system": SNOMED, "code": code, "display": display}],
                        "text": m.get_team_role_display(),
                    }
                ],
                "member": {"display": m.user.display()},
            }
        )
    care_team = {
        "resourceType": "CareTeam",
        "id": team_id,
        "status": "active",
        "subject": _ref("Patient", pid, str(patient)),
        "participant": participants,
        "name": f"Care team for {patient}",
    }
    activities = [
        {
            "detail": {
                "status": "not-started",
                "description": a["what"],
                "scheduledString": f"due {a['due']}",
                "performer": [{"display": a["owner"]}],
            }
        }
        for a in version.actions
    ]
    notes = [f"What matters to me: {version.what_matters}"]
    if version.escalation:
        notes.append(f"Escalation plan: {version.escalation}")
    if version.contingency:
        notes.append(f"Contingency plan: {version.contingency}")
    if version.out_of_hours:
        notes.append(f"Out of hours call: {version.out_of_hours}")
    if version.agreed:
        notes.append(
            f"Agreed with the patient on {version.agreed_on.isoformat()}"
            + (f" ({version.agreed_how})" if version.agreed_how else "")
        )
    plan_id = f"careplan-{patient.pk}"
    plan = {
        "resourceType": "CarePlan",
        "id": plan_id,
        "meta": {"versionId": str(version.number), "lastUpdated": _instant(version.created_at)},
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [CARE_PLAN_CATEGORY]}],
        "title": "Personalised care and support plan",
        "description": version.goals,
        "subject": _ref("Patient", pid, str(patient)),
        "period": {"end": version.review_date.isoformat()},
        "created": _instant(version.plan.created_at),
        "author": {"display": version.author.display()},
        "careTeam": [_ref("CareTeam", team_id)],
        "note": [{"text": n} for n in notes],
    }
    if activities:
        plan["activity"] = activities
    entries = [
        {"fullUrl": _urn(kind, res["id"]), "resource": res}
        for kind, res in (("CarePlan", plan), ("CareTeam", care_team), ("Patient", patient_res))
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(timezone.now()),
        "entry": entries,
    }
