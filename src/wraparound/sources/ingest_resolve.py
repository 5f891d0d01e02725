"""Second pass over a batch: resolve references, then apply the row rules.

References can only be judged once every file of the batch has been read (an Encounter may
come before its Patient, a Synthea patient bundle before the hospital file), and a reference
that is not in the batch may still be in the warehouse from an earlier load. Resolution
replaces each reference by the value the warehouse keys on (see docs/fhir-mapping.md):
patients by pseudonym, organisations by ODS code, practitioners and roles by logical id.

Reference strings repeat heavily (every event of a patient names the same Patient), so each
distinct string is resolved once and cached.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cached_property

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import coded
from wraparound.sources.ingest_batch import CSV, Batch
from wraparound.sources.ingest_rules import (
    DANGLING_IDENTIFIER,
    EVENT_DATE,
    INDEX,
    OPTIONAL_REFERENCES,
    check_row,
)
from wraparound.sources.ingest_values import (
    DANGLING_REFERENCE,
    IMPOSSIBLE_DATE,
    INVALID_REFERENCE,
    Reject,
    earliest_instant,
    normalise_nhs_number,
)
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

# Reference columns of each table and the resource type each must point at.
REFERENCE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "organisations": (("parent_id", "Organization"),),
    "registrations": (("patient_id", "Patient"), ("practice_id", "Organization")),
    "practitioner_roles": (("practitioner_id", "Practitioner"), ("org_id", "Organization")),
    "conditions": (("patient_id", "Patient"),),
    "observations": (("patient_id", "Patient"),),
    "medications": (("patient_id", "Patient"),),
    "procedures": (("patient_id", "Patient"),),
    "encounters": (
        ("patient_id", "Patient"),
        ("org_id", "Organization"),
        ("practitioner_role_id", "PractitionerRole"),
    ),
    # Patient.generalPractitioner (or the CSV patients file's practice_id), direct care only.
    "identity": (("practice_id", "Organization"),),
}

# The FHIR resource type behind a row, for error reports raised after extraction.
_RESOURCE_TYPE = {
    "organisations": "Organization",
    "patients": "Patient",
    "identity": "Patient",
    "registrations": "EpisodeOfCare",
    "practitioners": "Practitioner",
    "practitioner_roles": "PractitionerRole",
    "conditions": "Condition",
    "observations": "Observation",
    "procedures": "Procedure",
}


class WarehouseIndex:
    """Lookups into the warehouse as it is before this batch, each read on first use."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse if warehouse.exists() else None

    def _columns(self, table: str, columns: list[str]) -> list[list]:
        if self.warehouse is None:
            return [[] for _ in columns]
        data = self.warehouse.read(table, columns=columns)
        return [data.column(c).to_pylist() for c in columns]

    @cached_property
    def patients(self) -> dict[str, str]:
        return dict(zip(*self._columns("patients", ["id", "patient_id"]), strict=True))

    @cached_property
    def births(self) -> dict[str, date | None]:
        return dict(zip(*self._columns("patients", ["patient_id", "birth_date"]), strict=True))

    @cached_property
    def orgs(self) -> dict[str, str]:
        return dict(zip(*self._columns("organisations", ["id", "org_id"]), strict=True))

    @cached_property
    def org_kinds(self) -> dict[str, str]:
        return dict(zip(*self._columns("organisations", ["org_id", "kind"]), strict=True))

    @cached_property
    def practitioners(self) -> set[str]:
        return set(self._columns("practitioners", ["id"])[0])

    @cached_property
    def roles(self) -> set[str]:
        return set(self._columns("practitioner_roles", ["id"])[0])


def parse_reference(ref: str, batch: Batch) -> tuple[str | None, str | None, tuple | None]:
    """(type, logical id, None) or (type, None, (system, value)) for a conditional reference."""
    if ref.startswith("urn:"):
        target = batch.full_urls.get(ref)
        if target is None:
            raise Reject(DANGLING_REFERENCE, f"{ref} is not the fullUrl of any entry in the batch")
        return target[0], target[1], None
    if "?" in ref:
        rtype, query = ref.split("?", 1)
        for param in query.split("&"):
            name, _, value = param.partition("=")
            if name == "identifier" and "|" in value:
                system, _, code = value.partition("|")
                return rtype.rsplit("/", 1)[-1], None, (system, code)
        raise Reject(INVALID_REFERENCE, f"{ref}: only identifier=system|value searches resolve")
    target = batch.full_urls.get(ref)
    if target is not None:
        return target[0], target[1], None
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-1]:
        raise Reject(INVALID_REFERENCE, f"{ref!r} is not a resource reference")
    return parts[-2], parts[-1], None


class Resolver:
    """Turns reference strings into warehouse keys, from the batch first, then the warehouse."""

    def __init__(self, batch: Batch, index: WarehouseIndex, pseudo: Pseudonymiser):
        self.batch = batch
        self.index = index
        self.pseudo = pseudo
        self._cache: dict[tuple[str, str], object] = {}

    def resolve(self, ref: str, want: str):
        key = (ref, want)
        try:
            found = self._cache[key]
        except KeyError:
            try:
                found = self._resolve(ref, want)
            except Reject as problem:
                found = problem
            self._cache[key] = found
        if isinstance(found, Reject):
            raise found
        return found

    def _resolve(self, ref: str, want: str):
        rtype, rid, ident = parse_reference(ref, self.batch)
        if rtype != want:
            raise Reject(INVALID_REFERENCE, f"{ref} should refer to a {want}, not a {rtype}")
        found = (
            getattr(self, f"_by_identifier_{want}")(*ident)
            if ident
            else getattr(self, f"_by_id_{want}")(rid)
        )
        if found is None:
            raise Reject(
                DANGLING_REFERENCE,
                f"{ref} does not resolve to a {want} in this batch or the warehouse",
            )
        return found

    # Patient -> pseudonym
    def _by_id_Patient(self, rid):
        return self.batch.patients.get(rid) or self.index.patients.get(rid)

    def _by_identifier_Patient(self, system, value):
        if system != m.NHS_NUMBER:  # another identifier of a Patient in this batch
            rid = self.batch.identifiers.get(("Patient", system, value))
            return None if rid is None else self.batch.patients.get(rid)
        patient_id = self.pseudo.nhs_number(normalise_nhs_number(value))
        if patient_id in self.batch.births or patient_id in self.index.births:
            return patient_id
        return None

    # Organization -> ODS code
    def _by_id_Organization(self, rid):
        return self.batch.orgs.get(rid) or self.index.orgs.get(rid)

    def _by_identifier_Organization(self, system, value):
        if system == m.ODS_CODE:
            known = value in self.batch.org_kinds or value in self.index.org_kinds
            return value if known else None
        rid = self.batch.identifiers.get(("Organization", system, value))
        if rid is not None:
            return self.batch.orgs[rid]
        # Earlier batches keep no identifiers but the ODS code; organisations without one
        # are keyed by logical id, which is the identifier value in Synthea's output.
        return self.index.orgs.get(value)

    # Practitioner, PractitionerRole, Medication -> logical id (or code)
    def _by_id_Practitioner(self, rid):
        known = rid in self.batch.practitioners or rid in self.index.practitioners
        return rid if known else None

    def _by_identifier_Practitioner(self, system, value):
        return self.batch.identifiers.get(("Practitioner", system, value))

    def _by_id_PractitionerRole(self, rid):
        return rid if rid in self.batch.roles or rid in self.index.roles else None

    def _by_identifier_PractitionerRole(self, system, value):
        return self.batch.identifiers.get(("PractitionerRole", system, value))

    def _by_id_Medication(self, rid):
        return self.batch.medications.get(rid)

    def _by_identifier_Medication(self, system, value):
        return None


def _resource_type(batch: Batch, table: str, row: list, loc: int) -> str:
    if batch.files[loc >> 32].format == CSV:
        return table
    if table == "medications":
        return (
            "MedicationRequest"
            if row[INDEX[table]["kind"]] == "request"
            else ("MedicationStatement")
        )
    if table == "encounters":
        appointment = row[INDEX[table]["kind"]] == "gp_appointment"
        return "Appointment" if appointment else "Encounter"
    return _RESOURCE_TYPE[table]


def resolve_batch(batch: Batch, warehouse: Warehouse, pseudo: Pseudonymiser) -> None:
    """Resolve every reference and apply every row rule, recording errors in ``batch``."""
    index = WarehouseIndex(warehouse)
    resolver = Resolver(batch, index, pseudo)
    clock = batch.clock
    failed: set[int] = set()
    identifier_refs = batch.identifier_refs
    for row, ref, loc in batch.pending_medications:
        try:
            row[2], row[3] = coded(resolver.resolve(ref, "Medication"), f"{ref}.code")
        except Reject as problem:
            batch.error(loc, problem, _resource_type(batch, "medications", row, loc), row[0])
            failed.add(id(row))
    for table, rows in batch.rows.items():
        refs = [
            (INDEX[table][c], want, (table, c) in OPTIONAL_REFERENCES)
            for c, want in REFERENCE_COLUMNS.get(table, ())
        ]
        event = INDEX[table][EVENT_DATE[table]] if table in EVENT_DATE else None
        for row, loc in zip(rows, batch.locs[table], strict=True):
            if failed and id(row) in failed:
                continue
            try:
                for i, want, optional in refs:
                    if row[i] is None:
                        continue
                    if optional and row[i] in identifier_refs:  # H1: see ingest_rules
                        row[i] = _optional_identifier(resolver, row[i], want, batch)
                    else:
                        row[i] = resolver.resolve(row[i], want)
                check_row(table, row, clock)
                if event is not None and row[event] is not None:
                    _not_before_birth(row, event, batch, index)
            except Reject as problem:
                batch.error(loc, problem, _resource_type(batch, table, row, loc), row[0])
    org = INDEX["encounters"]["org_id"]
    kind = INDEX["encounters"]["kind"]
    for row in batch.ambulatory:
        provider = row[org]
        if provider is not None:
            provider_kind = batch.org_kinds.get(provider) or index.org_kinds.get(provider)
            if provider_kind == "practice":
                row[kind] = "gp_appointment"


def _optional_identifier(resolver: Resolver, ref: str, want: str, batch: Batch):
    """An identifier-only reference in an optional column: resolved if it can be, else
    cleared and counted as a data-quality flag (the identifier may name an organisation or
    practitioner the source never sent). A reference of the wrong type is still rejected."""
    try:
        return resolver.resolve(ref, want)
    except Reject as problem:
        if problem.code != DANGLING_REFERENCE:
            raise
        batch.data_quality[DANGLING_IDENTIFIER] += 1
        return None


def _not_before_birth(row: list, event: int, batch: Batch, index: WarehouseIndex) -> None:
    patient_id = row[1]
    birth = batch.births[patient_id] if patient_id in batch.births else index.births.get(patient_id)
    if birth is None:
        return
    when = row[event]
    before = when < earliest_instant(birth) if isinstance(when, datetime) else when < birth
    if before:
        raise Reject(IMPOSSIBLE_DATE, f"{when} is before the patient's birth date {birth}")
