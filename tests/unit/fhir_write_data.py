"""A small hand-built population, in two chunks, for the FHIR writer's tests.

Built with the tests' shared table builder (``tests/builders.py``, from ``schema.TABLES``),
not the synthetic generator, so the writer's tests pin the mapping itself. Organisation
logical ids differ from their ODS codes, and patients' logical ids from their pseudonyms, so
a test can tell which one a reference used.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
from builders import table

from wraparound.nhs_number import synthetic_numbers
from wraparound.sources.synthetic.population import PopulationChunk

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
UPDATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + hours * 3600, tz=UTC)


ORGANISATIONS = [
    {"id": "org-loc", "org_id": "L1", "name": "Locality", "kind": "locality"},
    {"id": "org-nb", "org_id": "U1", "name": "North", "kind": "neighbourhood", "parent_id": "L1"},
    {"id": "org-p1", "org_id": "P1", "name": "Elm Surgery", "kind": "practice", "parent_id": "U1",
     "updated_at": UPDATED, "version_id": 3},
    {"id": "org-p2", "org_id": "P2", "kind": "practice", "parent_id": "U1"},
    {"id": "org-hub", "org_id": "H1", "name": "Hub", "kind": "hub", "parent_id": "U1"},
    {"id": "org-trust", "org_id": "RX1", "name": "General Hospital", "kind": "trust"},
]  # fmt: skip


def _patient(n: int, **fields) -> dict:
    return {"id": f"pt-{n}", "patient_id": f"pseud{n}", "opted_out": False, **fields}


def population(nhs_numbers: list[str] | None = None) -> list[PopulationChunk]:
    """Chunk 1: organisations, areas, staff and three patients with every kind of row;
    chunk 2: two more patients with a few rows each."""
    if nhs_numbers is None:
        nhs_numbers = list(synthetic_numbers(5, np.random.default_rng(7)))
    first = {
        "organisations": table("organisations", ORGANISATIONS),
        "areas": table("areas", [
            {"id": "E01000001", "lsoa": "E01000001", "imd_decile": 1},
            {"id": "E01000002", "lsoa": "E01000002", "imd_decile": 10},
        ]),
        "practitioners": table("practitioners", [
            {"id": "pr-1", "name": "Dr A Smith", "updated_at": UPDATED},
            {"id": "pr-2"},
        ]),
        "practitioner_roles": table("practitioner_roles", [
            {"id": "rl-1", "practitioner_id": "pr-1", "org_id": "P1", "role": "gp"},
            {"id": "rl-2", "practitioner_id": "pr-2", "role": "nurse"},
            {"id": "rl-3", "practitioner_id": "pr-2", "org_id": "RX1", "role": "consultant"},
        ]),
        "patients": table("patients", [
            _patient(1, birth_date=date(1940, 5, 6), sex="female", ethnicity="A",
                     lsoa="E01000001", death_date=date(2025, 2, 3), opted_out=True,
                     updated_at=UPDATED, version_id=2),
            _patient(2),
            _patient(3, birth_date=date(2001, 1, 1), sex="male", lsoa="E01000002"),
        ]),
        "registrations": table("registrations", [
            {"id": "rg-1a", "patient_id": "pseud1", "practice_id": "P2",
             "start_date": date(1990, 1, 1), "end_date": date(2010, 6, 30)},
            {"id": "rg-1b", "patient_id": "pseud1", "practice_id": "P1",
             "start_date": date(2010, 7, 1), "updated_at": UPDATED, "version_id": 1},
            {"id": "rg-2", "patient_id": "pseud2", "practice_id": "P2",
             "start_date": date(2020, 1, 1)},
            {"id": "rg-3", "patient_id": "pseud3", "practice_id": "P1",
             "start_date": date(2001, 1, 2), "end_date": date(2023, 1, 1)},
        ]),
        "conditions": table("conditions", [
            {"id": "cd-1", "patient_id": "pseud1", "system": "snomed", "code": "38341003",
             "onset_date": date(2000, 1, 1)},
            {"id": "cd-2", "patient_id": "pseud1", "system": "icd10", "code": "J45",
             "onset_date": date(2001, 1, 1), "abatement_date": date(2002, 1, 1)},
            {"id": "cd-3", "patient_id": "pseud2", "system": "snomed", "code": "195967001"},
        ]),
        "observations": table("observations", [
            {"id": "ob-1", "patient_id": "pseud1", "system": "snomed", "code": "60621009",
             "date": date(2024, 1, 5), "value": 27.5, "unit": "kg/m2"},
            {"id": "ob-2", "patient_id": "pseud2", "system": "loinc", "code": "8302-2"},
            {"id": "ob-3", "patient_id": "pseud3", "system": "snomed", "code": "1000731000000107",
             "value": 3.0},
        ]),
        "medications": table("medications", [
            {"id": "md-1", "patient_id": "pseud1", "system": "dmd", "code": "39113611000001102",
             "start_date": date(2023, 1, 1), "end_date": date(2023, 7, 1), "kind": "request"},
            {"id": "md-2", "patient_id": "pseud1", "system": "rxnorm", "code": "197361",
             "start_date": date(2022, 1, 1), "kind": "statement"},
            {"id": "md-3", "patient_id": "pseud3", "system": "dmd", "code": "322236009",
             "kind": "request"},
            {"id": "md-4", "patient_id": "pseud3", "system": "dmd", "code": "322236009",
             "kind": "statement"},
        ]),
        "procedures": table("procedures", [
            {"id": "pc-1", "patient_id": "pseud1", "system": "snomed", "code": "80146002",
             "date": date(2021, 4, 4)},
            {"id": "pc-2", "patient_id": "pseud3", "system": "snomed", "code": "80146002"},
        ]),
        "encounters": table("encounters", [
            {"id": "en-gp", "patient_id": "pseud1", "kind": "gp_appointment", "start": T0,
             "end": _at(0.25), "booked_at": _at(-48), "status": "attended",
             "mode": "telephone", "org_id": "P1", "practitioner_role_id": "rl-1",
             "urgent_request": True, "updated_at": UPDATED, "version_id": 1},
            {"id": "en-gp-min", "patient_id": "pseud2", "kind": "gp_appointment",
             "start": datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=UTC), "status": "dna"},
            {"id": "en-ae", "patient_id": "pseud1", "kind": "ae_attendance", "start": _at(24),
             "end": _at(28), "status": "attended", "org_id": "RX1"},
            {"id": "en-em", "patient_id": "pseud1", "kind": "emergency_admission",
             "start": _at(28), "end": _at(100), "status": "attended", "org_id": "RX1",
             "practitioner_role_id": "rl-3"},
            {"id": "en-el", "patient_id": "pseud3", "kind": "elective_admission",
             "start": _at(200), "status": "booked", "org_id": "RX1"},
            {"id": "en-op", "patient_id": "pseud3", "kind": "outpatient", "start": _at(300),
             "end": _at(300.5), "status": "cancelled", "org_id": "RX1", "specialty": "320",
             "mode": "face_to_face", "first_attendance": False},
            {"id": "en-op-dna", "patient_id": "pseud3", "kind": "outpatient", "start": _at(310),
             "end": _at(310.5), "status": "dna", "org_id": "RX1", "specialty": "420"},
            {"id": "en-cm", "patient_id": "pseud2", "kind": "community", "start": _at(400),
             "end": _at(401), "status": "attended", "practitioner_role_id": "rl-2",
             "mode": "home_visit"},
        ]),
        "letters": table("letters", [
            {"id": "lt-ae", "patient_id": "pseud1", "org_id": "RX1", "encounter_id": "en-ae",
             "contact_start": _at(24), "date": _at(40), "type_code": "371531000"},
            {"id": "lt-min", "patient_id": "pseud3", "contact_start": _at(300),
             "date": _at(330)},
        ]),
        "allergies": table("allergies", [
            {"id": "al-1", "patient_id": "pseud1", "system": "snomed", "code": "91936005",
             "display": "Allergy to penicillin", "clinical_status": "active",
             "verification_status": "confirmed", "type": "allergy", "category": "medication",
             "criticality": "high", "reaction_code": "39579001", "reaction_display": "Anaphylaxis",
             "reaction_severity": "severe", "onset_date": date(1990, 1, 1),
             "recorded_date": date(1995, 2, 3)},
            {"id": "al-min", "patient_id": "pseud3", "system": "snomed", "code": "716186003",
             "clinical_status": "resolved"},
        ]),
    }  # fmt: skip
    second = {
        "patients": table("patients", [
            _patient(4, birth_date=date(1950, 1, 1), sex="other", ethnicity="Z"),
            _patient(5, sex="unknown"),
        ]),
        "registrations": table("registrations", [
            {"id": "rg-4", "patient_id": "pseud4", "practice_id": "P2",
             "start_date": date(2015, 1, 1)},
        ]),
        "conditions": table("conditions", [
            {"id": "cd-4", "patient_id": "pseud4", "system": "snomed", "code": "73211009"},
        ]),
        "encounters": table("encounters", [
            {"id": "en-4", "patient_id": "pseud4", "kind": "gp_appointment", "start": T0,
             "end": _at(0.5), "status": "cancelled", "mode": "video", "org_id": "H1",
             "urgent_request": False},
        ]),
    }  # fmt: skip
    ids = [f"pt-{n}" for n in range(1, 6)]

    def identities(rows: range) -> pa.Table:
        return pa.table(
            {"id": [ids[i] for i in rows], "nhs_number": [nhs_numbers[i] for i in rows]}
        )

    return [
        PopulationChunk(tables=first, identities=identities(range(3))),
        PopulationChunk(tables=second, identities=identities(range(3, 5))),
    ]
