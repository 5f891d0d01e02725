"""References: which columns hold them, and how a reference string is read.

References can only be judged once every file of the batch has been read (an Encounter may
come before its Patient, a Synthea patient bundle before the hospital file), and a reference
that is not in the batch may still be in the warehouse from an earlier load. Resolution
replaces each reference by the value the warehouse keys on (see docs/fhir-mapping.md):
patients by pseudonym, organisations by ODS code, practitioners and roles by logical id.
``ingest_check`` does it, in DuckDB over the staged batch, parsing each distinct reference
string once with :func:`parse_reference`.
"""

from __future__ import annotations

from wraparound.sources.ingest_batch import Batch
from wraparound.sources.ingest_values import DANGLING_REFERENCE, INVALID_REFERENCE, Reject

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
    "letters": (("patient_id", "Patient"), ("org_id", "Organization")),
    "allergies": (("patient_id", "Patient"),),
    # Patient.generalPractitioner (or the CSV patients file's practice_id), direct care only.
    "identity": (("practice_id", "Organization"),),
}


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
