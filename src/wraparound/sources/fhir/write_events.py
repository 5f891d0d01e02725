"""Builders for the clinical and activity resources: Condition, Observation, MedicationRequest,
MedicationStatement, Procedure, Appointment (GP appointments) and Encounter (everything else),
following docs/fhir-mapping.md.

Statuses FHIR requires but the warehouse does not hold are derived so that they are true of the
row (a Condition with an abatement date is ``resolved``, a medication with an end date
``completed``); the reader ignores them, so they cannot disturb the round trip.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

from wraparound import clinical
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.write_common import (
    References,
    column,
    concepts,
    dates,
    instants,
    metas,
)
from wraparound.sources.fhir.write_people import Built

_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# Condition invariant con-4: an abated condition's clinicalStatus is inactive/resolved/remission.
_ACTIVE = {"coding": [{"system": _CONDITION_CLINICAL, "code": "active"}]}
_RESOLVED = {"coding": [{"system": _CONDITION_CLINICAL, "code": "resolved"}]}


def conditions(table: pa.Table, refs: References) -> list[Built]:
    """Condition: code, onset and abatement dates."""
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, concepts(table), dates(table, "onset_date"),
        dates(table, "abatement_date"), strict=True,
    )  # fmt: skip
    for id_, meta, subject, concept, onset, abatement in rows:
        r: dict = {"resourceType": "Condition", "id": id_}
        if meta:
            r["meta"] = meta
        r["clinicalStatus"] = _ACTIVE if abatement is None else _RESOLVED
        r["code"] = concept
        r["subject"] = subject
        if onset is not None:
            r["onsetDateTime"] = onset
        if abatement is not None:
            r["abatementDateTime"] = abatement
        out.append(r)
    return [Built("Condition", out, patients)]


def observations(table: pa.Table, refs: References) -> list[Built]:
    """Observation (status ``final``): code, effective date, ``valueQuantity`` value and unit.

    NaN has no JSON form, so it is written as no value.
    """
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, concepts(table), dates(table, "date"),
        column(table, "value"), column(table, "unit"), strict=True,
    )  # fmt: skip
    for id_, meta, subject, concept, date, value, unit in rows:
        r: dict = {"resourceType": "Observation", "id": id_}
        if meta:
            r["meta"] = meta
        r["status"] = "final"
        r["code"] = concept
        r["subject"] = subject
        if date is not None:
            r["effectiveDateTime"] = date
        quantity = {}
        if value is not None and value == value:
            quantity["value"] = value
        if unit is not None:
            quantity["unit"] = unit
        if quantity:
            r["valueQuantity"] = quantity
        out.append(r)
    return [Built("Observation", out, patients)]


def medications(table: pa.Table, refs: References) -> list[Built]:
    """MedicationRequest (``kind`` request) or MedicationStatement (``kind`` statement).

    A request's dates are ``authoredOn`` and ``dispenseRequest.validityPeriod.end``; a
    statement's are ``effectivePeriod``. Status is ``active`` until an end date is known.
    """
    requests, statements = [], []
    request_patients, statement_patients = [], []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), patients, subjects, concepts(table),
        dates(table, "start_date"), dates(table, "end_date"), column(table, "kind"), strict=True,
    )  # fmt: skip
    for id_, meta, patient, subject, concept, start, end, kind in rows:
        status = "active" if end is None else "completed"
        if kind == "request":
            r: dict = {"resourceType": "MedicationRequest", "id": id_}
            if meta:
                r["meta"] = meta
            r["status"] = status
            r["intent"] = "order"
            r["medicationCodeableConcept"] = concept
            r["subject"] = subject
            if start is not None:
                r["authoredOn"] = start
            if end is not None:
                r["dispenseRequest"] = {"validityPeriod": {"end": end}}
            requests.append(r)
            request_patients.append(patient)
        elif kind == "statement":
            r = {"resourceType": "MedicationStatement", "id": id_}
            if meta:
                r["meta"] = meta
            r["status"] = status
            r["medicationCodeableConcept"] = concept
            r["subject"] = subject
            period = {}
            if start is not None:
                period["start"] = start
            if end is not None:
                period["end"] = end
            if period:
                r["effectivePeriod"] = period
            statements.append(r)
            statement_patients.append(patient)
        else:
            raise ValueError(f"medications: kind {kind!r} of {id_!r} is not request/statement")
    return [
        Built("MedicationRequest", requests, request_patients),
        Built("MedicationStatement", statements, statement_patients),
    ]


def procedures(table: pa.Table, refs: References) -> list[Built]:
    """Procedure (status ``completed``): code and ``performedDateTime``."""
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, concepts(table), dates(table, "date"),
        strict=True,
    )  # fmt: skip
    for id_, meta, subject, concept, date in rows:
        r: dict = {"resourceType": "Procedure", "id": id_}
        if meta:
            r["meta"] = meta
        r["status"] = "completed"
        r["code"] = concept
        r["subject"] = subject
        if date is not None:
            r["performedDateTime"] = date
        out.append(r)
    return [Built("Procedure", out, patients)]


def encounters(table: pa.Table, refs: References) -> list[Built]:
    """Appointment for ``gp_appointment`` rows, Encounter for every other kind."""
    is_gp = pc.equal(table.column("kind"), "gp_appointment")
    return [appointments(table.filter(is_gp), refs), hospital(table.filter(pc.invert(is_gp)), refs)]


@functools.cache
def _concept(system: str, code: str) -> dict:
    """One shared CodeableConcept per (system, code) for the few-valued codes (mode, specialty)."""
    return {"coding": [{"system": system, "code": code}]}


def _status(fhir: dict[str, str], status: str, id_: str, resource: str) -> str:
    try:
        return fhir[status]
    except KeyError:
        raise ValueError(
            f"encounters: status {status!r} of {id_!r} has no {resource} form"
        ) from None


def _minutes(table: pa.Table) -> list[int | None]:
    """Whole minutes from ``start`` to ``end`` (None when ``end`` is null)."""
    micros = pc.subtract(table.column("end"), table.column("start")).cast(pa.int64())
    return pc.divide(micros, 60_000_000).to_pylist()


def appointments(table: pa.Table, refs: References) -> Built:
    """Appointment: start/end instants, minutesDuration, created (= booked_at), status,
    appointmentType (= mode), priority (= urgent_request: 1 urgent, 5 routine), the patient
    and PractitionerRole as participants, and the organisation as an extension (Appointment
    has no element for it in R4)."""
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, instants(table, "start"),
        instants(table, "end"), _minutes(table), instants(table, "booked_at"),
        column(table, "status"), column(table, "mode"), column(table, "org_id"),
        column(table, "practitioner_role_id"), column(table, "specialty"),
        column(table, "urgent_request"), strict=True,
    )  # fmt: skip
    if any(v is not None for v in _first_attendance(table)):
        raise ValueError("encounters: first_attendance is only mapped for Encounter (outpatients)")
    for (
        id_, meta, subject, start, end, minutes, booked, status, mode, org, role, specialty, urgent,
    ) in rows:  # fmt: skip
        r: dict = {"resourceType": "Appointment", "id": id_}
        if meta:
            r["meta"] = meta
        if org is not None:
            r["extension"] = [
                {"url": m.APPOINTMENT_ORG_EXT, "valueReference": refs.organisation(org)}
            ]
        r["status"] = _status(m.APPOINTMENT_STATUS_TO_FHIR, status, id_, "Appointment")
        if specialty is not None:
            r["serviceType"] = [_concept(m.SPECIALTY_SYSTEM, specialty)]
        if mode is not None:
            r["appointmentType"] = _concept(m.APPOINTMENT_MODE_SYSTEM, mode)
        if urgent is not None:
            r["priority"] = m.PRIORITY_URGENT if urgent else m.PRIORITY_ROUTINE
        r["start"] = start
        if end is not None:
            r["end"] = end
            if minutes > 0:
                r["minutesDuration"] = minutes
        if booked is not None:
            r["created"] = booked
        participants = [{"actor": subject, "status": "accepted"}]
        if role is not None:
            participants.append(
                {"actor": {"reference": f"PractitionerRole/{role}"}, "status": "accepted"}
            )
        r["participant"] = participants
        out.append(r)
    return Built("Appointment", out, patients)


# Encounter class and priority per kind, built once and shared by every Encounter.
_CLASS = {
    kind: (
        {"system": m.ACT_CODE, "code": code},
        None if priority is None else {"coding": [{"system": m.ACT_PRIORITY, "code": priority}]},
    )
    for kind, (code, priority) in m.ENCOUNTER_CLASS.items()
}


_DID_NOT_ATTEND = {"url": m.DID_NOT_ATTEND_EXT, "valueBoolean": True}


@functools.cache
def _social_care_service() -> dict:
    """The serviceType of every social-care Encounter: the first code of the social-care code
    list (310134006 *Social services*), with its term, which the reader recognises."""
    entry = clinical.codelist_entries(m.SOCIAL_CARE_CODELIST)[0]
    return {"coding": [{"system": m.SNOMED, "code": entry.code, "display": entry.term}]}


# Social care has no class of its own in v3 ActCode: a home visit is HH (home health), anything
# else AMB; the serviceType, not the class, makes it social care.
_SOCIAL_CARE_CLASS = {
    "home_visit": {"system": m.ACT_CODE, "code": "HH"},
    None: {"system": m.ACT_CODE, "code": "AMB"},
}


def _first_attendance(table: pa.Table) -> list:
    """``first_attendance`` (null for every row of a table read before it was added)."""
    if "first_attendance" not in table.column_names:
        return [None] * table.num_rows
    return column(table, "first_attendance")


def hospital(table: pa.Table, refs: References) -> Built:
    """Encounter: class and priority by kind, type (= mode), period, status (a DNA is
    ``cancelled`` with the did-not-attend extension), serviceProvider, the PractitionerRole as
    participant, and serviceType (= specialty; for ``social_care`` the SNOMED CT social-care
    service, a home visit classed ``HH`` and other contacts ``AMB``).

    Encounter has no element for ``booked_at`` or ``urgent_request``, so a row with either is
    refused rather than silently losing it: only GP appointments (Appointment ``created`` and
    ``priority``) carry them. ``first_attendance`` is a second type coding
    (``mapping.ATTENDANCE_TYPE_SYSTEM``: ``first`` or ``follow-up``).
    """
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, column(table, "kind"),
        instants(table, "start"), instants(table, "end"), column(table, "status"),
        column(table, "mode"), column(table, "org_id"), column(table, "practitioner_role_id"),
        column(table, "specialty"), _first_attendance(table), strict=True,
    )  # fmt: skip
    if table.column("booked_at").null_count != table.num_rows:
        raise ValueError("encounters: booked_at is only mapped for gp_appointment (Appointment)")
    if table.column("urgent_request").null_count != table.num_rows:
        raise ValueError(
            "encounters: urgent_request is only mapped for gp_appointment (Appointment)"
        )
    for id_, meta, subject, kind, start, end, status, mode, org, role, specialty, first in rows:
        r: dict = {"resourceType": "Encounter", "id": id_}
        if meta:
            r["meta"] = meta
        if status == "dna":
            r["extension"] = [_DID_NOT_ATTEND]
        r["status"] = _status(m.ENCOUNTER_STATUS_TO_FHIR, status, id_, "Encounter")
        if kind == "social_care":
            if specialty is not None:
                raise ValueError(
                    f"encounters: social_care {id_!r} has a specialty; serviceType carries "
                    "the social-care service instead"
                )
            act_class = _SOCIAL_CARE_CLASS.get(mode, _SOCIAL_CARE_CLASS[None])
            priority = None
        else:
            try:
                act_class, priority = _CLASS[kind]
            except KeyError:
                raise ValueError(f"encounters: kind {kind!r} of {id_!r} is unknown") from None
        r["class"] = act_class
        types = [] if mode is None else [_concept(m.APPOINTMENT_MODE_SYSTEM, mode)]
        if first is not None:
            types.append(_concept(m.ATTENDANCE_TYPE_SYSTEM, "first" if first else "follow-up"))
        if types:
            r["type"] = types
        if kind == "social_care":
            r["serviceType"] = _social_care_service()
        elif specialty is not None:
            r["serviceType"] = _concept(m.SPECIALTY_SYSTEM, specialty)
        if priority is not None:
            r["priority"] = priority
        r["subject"] = subject
        if role is not None:
            r["participant"] = [{"individual": {"reference": f"PractitionerRole/{role}"}}]
        r["period"] = {"start": start} if end is None else {"start": start, "end": end}
        if org is not None:
            r["serviceProvider"] = refs.organisation(org)
        out.append(r)
    return Built("Encounter", out, patients)


_LETTER_CONTENT = [{"attachment": {"contentType": "application/pdf", "title": "Clinical letter"}}]


def letters(table: pa.Table, refs: References) -> list[Built]:
    """DocumentReference (status ``current``): the letter back to the GP, its SNOMED CT
    type, subject, date, the author organisation, and the contact it is about
    (context.encounter and context.period.start). The attachment is a placeholder: the
    warehouse keeps that a letter came, not its text."""
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, column(table, "org_id"),
        column(table, "encounter_id"), instants(table, "contact_start"),
        instants(table, "date"), column(table, "type_code"), strict=True,
    )  # fmt: skip
    for id_, meta, subject, org, encounter, start, date, type_code in rows:
        r: dict = {"resourceType": "DocumentReference", "id": id_}
        if meta:
            r["meta"] = meta
        r["status"] = "current"
        if type_code is not None:
            r["type"] = {"coding": [{"system": m.SNOMED, "code": type_code}]}
        r["subject"] = subject
        r["date"] = date
        if org is not None:
            r["author"] = [refs.organisation(org)]
        r["content"] = _LETTER_CONTENT
        context: dict = {}
        if encounter is not None:
            context["encounter"] = [{"reference": f"Encounter/{encounter}"}]
        if start is not None:
            context["period"] = {"start": start}
        r["context"] = context
        out.append(r)
    return [Built("DocumentReference", out, patients)]


@functools.cache
def _allergy_status(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def allergies(table: pa.Table, refs: References) -> list[Built]:
    """AllergyIntolerance: clinical and verification status, type, category, criticality,
    the code with its display, the patient, onset and recorded dates, and one reaction (the
    manifestation and the worst severity the warehouse keeps)."""
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, concepts(table), column(table, "display"),
        column(table, "clinical_status"), column(table, "verification_status"),
        column(table, "type"), column(table, "category"), column(table, "criticality"),
        column(table, "reaction_code"), column(table, "reaction_display"),
        column(table, "reaction_severity"), dates(table, "onset_date"),
        dates(table, "recorded_date"), strict=True,
    )  # fmt: skip
    for (
        id_, meta, subject, concept, display, clinical_status, verification, kind, category,
        criticality, reaction, reaction_display, severity, onset, recorded,
    ) in rows:  # fmt: skip
        r: dict = {"resourceType": "AllergyIntolerance", "id": id_}
        if meta:
            r["meta"] = meta
        r["clinicalStatus"] = _allergy_status(m.ALLERGY_CLINICAL, clinical_status)
        if verification is not None:
            r["verificationStatus"] = _allergy_status(m.ALLERGY_VERIFICATION, verification)
        if kind is not None:
            r["type"] = kind
        if category is not None:
            r["category"] = [category]
        if criticality is not None:
            r["criticality"] = criticality
        if display is not None:
            concept = {"coding": [{**concept["coding"][0], "display": display}]}
        r["code"] = concept
        r["patient"] = subject
        if onset is not None:
            r["onsetDateTime"] = onset
        if recorded is not None:
            r["recordedDate"] = recorded
        if reaction is not None or severity is not None:
            coding = {"system": m.SNOMED, "code": reaction}
            if reaction_display is not None:
                coding["display"] = reaction_display
            # R4 requires a manifestation; a severity without one is written with the
            # manifestation's text only, which the reader does not map (null code).
            manifestation = {"coding": [coding]} if reaction is not None else {"text": "reaction"}
            entry: dict = {"manifestation": [manifestation]}
            if severity is not None:
                entry["severity"] = severity
            r["reaction"] = [entry]
        out.append(r)
    return [Built("AllergyIntolerance", out, patients)]
