"""Builders for the who-and-where resources: Organization, Practitioner, PractitionerRole,
Patient and EpisodeOfCare (GP registrations), following docs/fhir-mapping.md.

Each builder takes one warehouse table and returns ``Built`` rows: the resource type, the
resource dicts, and for patient-owned resources the Patient logical id of each (so the writer
can pick the sampled patients' resources for the transaction bundles without a second pass).
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.write_common import References, column, dates, metas


class Built(NamedTuple):
    """Resources of one type built from one table, with their patients' logical ids."""

    resource_type: str
    resources: list[dict]
    patients: list[str] | None  # Patient logical id per resource; None for shared resources


def organisations(table: pa.Table, refs: References) -> list[Built]:
    """Organization: ODS identifier, name, kind coding and ``partOf`` the parent.

    Registers every organisation's reference first, so ``partOf`` may point at an organisation
    later in the table.
    """
    ids = column(table, "id")
    ods_codes = column(table, "org_id")
    for ods, id_ in zip(ods_codes, ids, strict=True):
        refs.add_organisation(ods, id_)
    out = []
    rows = zip(
        ids, metas(table), ods_codes, column(table, "name"), column(table, "kind"),
        column(table, "parent_id"), strict=True,
    )  # fmt: skip
    for id_, meta, ods, name, kind, parent in rows:
        r: dict = {"resourceType": "Organization", "id": id_}
        if meta:
            r["meta"] = meta
        r["identifier"] = [{"system": m.ODS_CODE, "value": ods}]
        r["type"] = [{"coding": [{"system": m.ORG_KIND_SYSTEM, "code": kind}]}]
        if name is not None:
            r["name"] = name
        if parent is not None:
            r["partOf"] = refs.organisation(parent)
        out.append(r)
    return [Built("Organization", out, None)]


def practitioners(table: pa.Table, refs: References) -> list[Built]:
    """Practitioner: ``name[0].text``."""
    out = []
    for id_, meta, name in zip(
        column(table, "id"), metas(table), column(table, "name"), strict=True
    ):
        r: dict = {"resourceType": "Practitioner", "id": id_}
        if meta:
            r["meta"] = meta
        if name is not None:
            r["name"] = [{"text": name}]
        out.append(r)
    return [Built("Practitioner", out, None)]


def practitioner_roles(table: pa.Table, refs: References) -> list[Built]:
    """PractitionerRole: the practitioner, the organisation, the staff role code and the
    whole-time equivalent (an extension, ``mapping.FTE_EXT``)."""
    out = []
    ftes = column(table, "fte") if "fte" in table.column_names else [None] * table.num_rows
    rows = zip(
        column(table, "id"), metas(table), column(table, "practitioner_id"),
        column(table, "org_id"), column(table, "role"), ftes, strict=True,
    )  # fmt: skip
    for id_, meta, practitioner, org, role, fte in rows:
        r: dict = {"resourceType": "PractitionerRole", "id": id_}
        if meta:
            r["meta"] = meta
        if fte is not None:
            r["extension"] = [{"url": m.FTE_EXT, "valueDecimal": fte}]
        r["practitioner"] = {"reference": f"Practitioner/{practitioner}"}
        if org is not None:
            r["organization"] = refs.organisation(org)
        r["code"] = [{"coding": [{"system": m.STAFF_ROLE_SYSTEM, "code": role}]}]
        out.append(r)
    return [Built("PractitionerRole", out, None)]


def open_practices(registrations: pa.Table | None) -> dict[str, str]:
    """Pseudonym -> ODS code of the practice of each patient's open registration.

    A patient with several open spells (which a clean source never has) gets the latest.
    """
    if registrations is None:
        return {}
    latest: dict[str, tuple[str, str]] = {}
    rows = zip(
        column(registrations, "patient_id"), column(registrations, "practice_id"),
        dates(registrations, "start_date"), column(registrations, "end_date"), strict=True,
    )  # fmt: skip
    for patient, practice, start, end in rows:
        if end is None and (patient not in latest or start >= latest[patient][0]):
            latest[patient] = (start, practice)
    return {patient: practice for patient, (_, practice) in latest.items()}


def patients(
    table: pa.Table,
    refs: References,
    nhs_numbers: dict[str, str],
    practices: dict[str, str],
    names: dict[str, tuple[str, str]] | None = None,
    telecoms: dict[str, tuple[str | None, str | None]] | None = None,
) -> list[Built]:
    """Patient: NHS number, demographics, UK Core ethnic category, LSOA, opt-out, usual GP.

    ``nhs_numbers`` maps logical id -> NHS number (from the chunk's identities); ``practices``
    maps pseudonym -> ODS code of the open registration (``open_practices``); ``names`` maps
    logical id -> (given, family) when the source has names; ``telecoms`` maps logical id ->
    (mobile, email) when it has contact details, written as ``telecom`` (phone, use mobile;
    email, use home), which ingest reads back into the identity table.
    """
    out = []
    ids = column(table, "id")
    rows = zip(
        ids, metas(table), column(table, "patient_id"), dates(table, "birth_date"),
        column(table, "sex"), column(table, "ethnicity"), column(table, "lsoa"),
        dates(table, "death_date"), column(table, "opted_out"), strict=True,
    )  # fmt: skip
    for id_, meta, pseudonym, birth, sex, ethnicity, lsoa, death, opted_out in rows:
        r: dict = {"resourceType": "Patient", "id": id_}
        if meta:
            r["meta"] = meta
        extensions = []
        if ethnicity is not None:
            extensions.append(
                {
                    "url": m.ETHNIC_CATEGORY_EXT,
                    "valueCodeableConcept": {
                        "coding": [{"system": m.ETHNIC_CATEGORY_SYSTEM, "code": ethnicity}]
                    },
                }
            )
        extensions.append({"url": m.OPT_OUT_EXT, "valueBoolean": bool(opted_out)})
        r["extension"] = extensions
        nhs = nhs_numbers.get(id_)
        if nhs is not None:
            r["identifier"] = [{"system": m.NHS_NUMBER, "value": nhs}]
        name = (names or {}).get(id_)
        if name is not None:
            r["name"] = [{"use": "official", "family": name[1], "given": [name[0]]}]
        phone, email = (telecoms or {}).get(id_) or (None, None)
        telecom = []
        if phone:
            telecom.append({"system": "phone", "value": phone, "use": "mobile"})
        if email:
            telecom.append({"system": "email", "value": email, "use": "home"})
        if telecom:
            r["telecom"] = telecom
        if sex is not None:
            r["gender"] = sex
        if birth is not None:
            r["birthDate"] = birth
        if death is not None:
            r["deceasedDateTime"] = death
        if lsoa is not None:
            r["address"] = [
                {"extension": [{"url": m.LSOA_EXT, "valueString": lsoa}], "use": "home"}
            ]
        practice = practices.get(pseudonym)
        if practice is not None:
            r["generalPractitioner"] = [refs.organisation(practice)]
        out.append(r)
    return [Built("Patient", out, ids)]


def registrations(table: pa.Table, refs: References) -> list[Built]:
    """EpisodeOfCare of type ``gp-registration``: patient, practice, period.

    ``status`` is required by FHIR: ``active`` while open, ``finished`` once ended.
    """
    out = []
    patients, subjects = refs.subjects(column(table, "patient_id"))
    rows = zip(
        column(table, "id"), metas(table), subjects, column(table, "practice_id"),
        dates(table, "start_date"), dates(table, "end_date"), strict=True,
    )  # fmt: skip
    for id_, meta, subject, practice, start, end in rows:
        r: dict = {"resourceType": "EpisodeOfCare", "id": id_}
        if meta:
            r["meta"] = meta
        r["status"] = "active" if end is None else "finished"
        r["type"] = [_GP_REGISTRATION]
        r["patient"] = subject
        r["managingOrganization"] = refs.organisation(practice)
        r["period"] = {"start": start} if end is None else {"start": start, "end": end}
        out.append(r)
    return [Built("EpisodeOfCare", out, patients)]


# Shared by every EpisodeOfCare: orjson serialises a shared dict as often as it appears.
_GP_REGISTRATION = {"coding": [{"system": m.EPISODE_TYPE_SYSTEM, "code": m.GP_REGISTRATION}]}
