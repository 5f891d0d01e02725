"""The patient's download: a FHIR R4 collection Bundle of their record summary and care
plan (care's CarePlan, CareTeam and Patient, plus Condition, MedicationStatement, Observation
and AllergyIntolerance resources for what the portal shows them), validated in the tests with
fhirclient."""

from __future__ import annotations

import uuid

from django.utils import timezone

from wraparound.apps.care import fhir as care_fhir
from wraparound.warehouse.schema import CODE_SYSTEMS

UCUM = "http://unitsofmeasure.org"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def _urn(kind: str, ident: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'wraparound/portal/{kind}/{ident}')}"


def record_bundle(patient, summary, version, team) -> dict:
    bundle = care_fhir.care_plan_bundle(patient, version, team) if version else None
    if bundle is None:
        pid = f"patient-{patient.pk}"
        res = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": care_fhir.NHS_NUMBER, "value": patient.nhs_number}],
            "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        }
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": care_fhir._instant(timezone.now()),
            "entry": [{"fullUrl": care_fhir._urn("Patient", pid), "resource": res}],
        }
    subject = {"reference": care_fhir._urn("Patient", f"patient-{patient.pk}")}
    entries = bundle["entry"]
    for i, name in enumerate(summary.conditions):
        entries.append(
            {
                "fullUrl": _urn("Condition", f"{patient.pk}-{i}"),
                "resource": {
                    "resourceType": "Condition",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {"text": name},
                    "subject": subject,
                },
            }
        )
    rec = summary.record
    if rec is not None:
        for i, med in enumerate(rec.medicines):
            entries.append(
                {
                    "fullUrl": _urn("MedicationStatement", f"{patient.pk}-{i}"),
                    "resource": {
                        "resourceType": "MedicationStatement",
                        "status": "active",
                        "medicationCodeableConcept": {"text": med.name},
                        "subject": subject,
                        "effectiveDateTime": med.last_authorised.isoformat(),
                    },
                }
            )
        for r in rec.results:
            for j, reading in enumerate(r.readings):
                obs = {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": r.label},
                    "subject": subject,
                    "effectiveDateTime": reading.date.isoformat(),
                }
                if "/" in reading.value:
                    sys_, dia = reading.value.split("/", 1)
                    obs["component"] = [
                        {"code": {"text": "Systolic"}, "valueQuantity": _qty(sys_, reading.unit)},
                        {"code": {"text": "Diastolic"}, "valueQuantity": _qty(dia, reading.unit)},
                    ]
                else:
                    obs["valueQuantity"] = _qty(reading.value, reading.unit)
                entries.append(
                    {"fullUrl": _urn("Observation", f"{patient.pk}-{r.label}-{j}"), "resource": obs}
                )
    if summary.allergies is not None:
        for i, a in enumerate(summary.allergies.all):
            entries.append(
                {
                    "fullUrl": _urn("AllergyIntolerance", f"{patient.pk}-{i}"),
                    "resource": allergy_resource(a, subject),
                }
            )
    return bundle


def allergy_resource(a, subject: dict) -> dict:
    """An AllergyIntolerance (R4) for one allergy the portal shows (records/allergies.py):
    its coded substance or finding with the name shown, statuses, and the reaction."""
    coding: dict = {"code": a.code, "display": a.name}
    if a.system in CODE_SYSTEMS:
        coding["system"] = CODE_SYSTEMS[a.system]
    res: dict = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": a.status}]},
    }
    if a.verification:
        res["verificationStatus"] = {
            "coding": [{"system": ALLERGY_VERIFICATION, "code": a.verification}]
        }
    if a.type:
        res["type"] = a.type
    if a.category:
        res["category"] = [a.category]
    if a.criticality:
        res["criticality"] = a.criticality
    res["code"] = {"coding": [coding], "text": a.name}
    res["patient"] = subject
    if a.recorded:
        res["recordedDate"] = a.recorded.isoformat()
    if a.reaction:
        reaction: dict = {"manifestation": [{"text": a.reaction}]}
        if a.severity:
            reaction["severity"] = a.severity
        res["reaction"] = [reaction]
    return res


def _qty(value: str, unit: str) -> dict:
    try:
        number = float(value)
    except ValueError:
        return {"unit": unit}
    return {"value": number, "unit": unit, "system": UCUM, "code": unit or "1"}
