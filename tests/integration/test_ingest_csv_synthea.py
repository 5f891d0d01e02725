"""The CSV extract loads to exactly what the FHIR form of the same data loads to; Synthea's
R4 output loads (patients without NHS numbers get pseudonyms and a data-quality flag)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_data import NHS, NOW, contents, locality, write_csv, write_ndjson

from wraparound.sources.fhir.extract import LOCAL_ID_SOURCE
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser

SYNTHEA = Path(__file__).parents[1] / "fixtures" / "synthea"


def ingest(paths, wh):
    return run_ingest([str(p) for p in paths], wh, progress=False, now=NOW)


def locality_csv(folder: Path) -> Path:
    """``ingest_data.locality()`` written as the CSV extract (docs/csv-format.md)."""
    write_csv(folder / "organisations.csv", ["id", "org_id", "name", "kind", "parent_id"], [
        ["org-l", "QX1", "Locality", "locality", ""],
        ["org-p1", "P81001", "Riverside Surgery", "practice", "QX1"],
        ["org-t1", "RX101", "General Hospital", "trust", "QX1"],
    ])  # fmt: skip
    write_csv(folder / "practitioners.csv", ["id", "name"], [["prac-1", "Dr Asha Patel"]])
    write_csv(
        folder / "practitioner_roles.csv",
        ["id", "practitioner_id", "org_id", "role"],
        [["role-1", "prac-1", "P81001", "gp"]],
    )
    write_csv(folder / "patients.csv", [
        "id", "nhs_number", "birth_date", "sex", "ethnicity", "lsoa", "death_date", "opted_out",
    ], [
        ["pat-1", NHS[0], "1950-04-02", "female", "A", "E01000001", "", "false"],
        ["pat-2", NHS[1], "1988-11-30", "male", "M", "E01000001", "", "true"],
        ["pat-3", NHS[2], "1931-06-15", "male", "A", "E01000001", "2025-03-01", "false"],
    ])  # fmt: skip
    # Event tables may name the patient by NHS number or by patient logical id (patient_ref).
    write_csv(folder / "registrations.csv",
              ["id", "nhs_number", "patient_ref", "practice_id", "start_date", "end_date"], [
        ["reg-1", NHS[0], "", "P81001", "2001-01-01", ""],
        ["reg-2", "", "pat-2", "P81001", "2010-05-05", ""],
        ["reg-3", NHS[2], "", "P81001", "1990-01-01", "2025-03-01"],
    ])  # fmt: skip
    write_csv(folder / "conditions.csv",
              ["id", "patient_ref", "system", "code", "onset_date", "abatement_date"], [
        ["cond-1", "pat-1", "snomed", "38341003", "2015-06-01", ""],
        ["cond-2", "pat-3", "snomed", "49436004", "2019-02-01", "2024-01-01"],
    ])  # fmt: skip
    write_csv(
        folder / "observations.csv",
        ["id", "nhs_number", "system", "code", "date", "value", "unit"],
        [["obs-1", NHS[0], "snomed", "271649006", "2024-03-01", "142", "mm[Hg]"]],
    )
    write_csv(folder / "medications.csv",
              ["id", "nhs_number", "system", "code", "start_date", "end_date", "kind"], [
        ["med-1", NHS[0], "dmd", "318420003", "2024-03-01", "2024-09-01", "request"],
        ["med-2", NHS[1], "dmd", "322236009", "2023-01-01", "2023-02-01", "statement"],
    ])  # fmt: skip
    write_csv(
        folder / "procedures.csv",
        ["id", "nhs_number", "system", "code", "date"],
        [["proc-1", NHS[2], "snomed", "73761001", "2022-05-05"]],
    )
    write_csv(folder / "encounters.csv", [
        "id", "nhs_number", "kind", "start", "end", "booked_at", "status", "mode", "org_id",
        "practitioner_role_id", "specialty", "urgent_request",
    ], [
        ["appt-1", NHS[0], "gp_appointment", "2024-03-01T09:00:00Z", "2024-03-01T09:10:00Z",
         "2024-02-27T15:30:00Z", "attended", "face_to_face", "P81001", "role-1", "", "yes"],
        ["enc-1", NHS[2], "ae_attendance", "2025-02-20T22:00:00Z", "2025-02-21T02:00:00Z", "",
         "attended", "", "RX101", "", "", ""],
        ["enc-2", NHS[2], "emergency_admission", "2025-02-21T02:00:00Z", "2025-03-01T08:00:00Z",
         "", "attended", "", "RX101", "", "", ""],
        ["enc-3", NHS[1], "outpatient", "2024-07-01T10:00:00+01:00", "2024-07-01T10:30:00+01:00",
         "", "attended", "", "RX101", "", "110", ""],
    ])  # fmt: skip
    write_csv(folder / "areas.csv", ["lsoa", "imd_decile"], [["E01000001", "3"]])
    return folder


def test_csv_extract_equals_the_fhir_load_of_the_same_data(tmp_path):
    csv_result = ingest([locality_csv(tmp_path / "csv")], tmp_path / "wh_csv")
    assert csv_result.ok, csv_result.report["errors"]
    fhir_src = write_ndjson(tmp_path / "fhir", locality())
    area = tmp_path / "fhir" / "areas.csv"  # IMD deciles travel as CSV beside FHIR
    area.write_text("lsoa,imd_decile\nE01000001,3\n")
    fhir_result = ingest([fhir_src], tmp_path / "wh_fhir")
    assert fhir_result.ok, fhir_result.report["errors"]
    assert contents(tmp_path / "wh_csv") == contents(tmp_path / "wh_fhir")
    assert contents(tmp_path / "wh_csv")["areas"] == [
        {
            "id": "E01000001",
            "lsoa": "E01000001",
            "imd_decile": 3,
            "updated_at": None,
            "version_id": None,
            "batch": 1,
        }
    ]


@pytest.mark.parametrize(
    ("header", "value", "urgent"),
    [
        (True, "true", True),
        (True, "0", False),
        (True, "No", False),
        (True, "", None),  # not recorded
        (False, None, None),  # an extract from before the column: still loads
    ],
)
def test_csv_urgent_request_is_an_optional_boolean(tmp_path, header, value, urgent):
    src = locality_csv(tmp_path / "csv")
    columns = ["id", "patient_ref", "kind", "start", "end", "booked_at", "status", "mode",
               "org_id", "practitioner_role_id", "specialty"]  # fmt: skip
    row = ["appt-9", "pat-1", "gp_appointment", "2024-04-01T09:00:00Z", "", "", "attended", "",
           "P81001", "", ""]  # fmt: skip
    if header:
        columns.append("urgent_request")
        row.append(value)
    write_csv(src / "encounters.csv", columns, [row])
    result = ingest([src], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    (appt,) = [e for e in contents(tmp_path / "wh")["encounters"] if e["id"] == "appt-9"]
    assert appt["urgent_request"] is urgent


@pytest.mark.parametrize(("value", "first"), [("true", True), ("false", False), ("", None)])
def test_csv_first_attendance_is_an_optional_boolean(tmp_path, value, first):
    src = locality_csv(tmp_path / "csv")
    columns = ["id", "patient_ref", "kind", "start", "end", "booked_at", "status", "mode",
               "org_id", "practitioner_role_id", "specialty", "first_attendance"]  # fmt: skip
    row = ["op-9", "pat-1", "outpatient", "2024-04-01T09:00:00Z", "", "", "attended", "",
           "RX101", "", "130", value]  # fmt: skip
    write_csv(src / "encounters.csv", columns, [row])
    result = ingest([src], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    (op,) = [e for e in contents(tmp_path / "wh")["encounters"] if e["id"] == "op-9"]
    assert op["first_attendance"] is first


def test_csv_patient_without_nhs_number_uses_local_id(tmp_path):
    write_csv(
        tmp_path / "in" / "patients.csv",
        [
            "id",
            "nhs_number",
            "local_id",
            "birth_date",
            "sex",
            "ethnicity",
            "lsoa",
            "death_date",
            "opted_out",
        ],
        [["p1", "", "EMIS-123", "1970-01-01", "female", "", "", "", ""]],
    )
    result = ingest([tmp_path / "in"], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    row = contents(tmp_path / "wh")["patients"][0]
    assert row["patient_id"] == Pseudonymiser().local_id(LOCAL_ID_SOURCE, "EMIS-123")
    assert row["dq_flags"] == "no_nhs_number" and row["opted_out"] is False


def test_csv_rows_with_both_patient_columns_are_rejected(tmp_path):
    src = locality_csv(tmp_path / "csv")
    write_csv(
        src / "procedures.csv",
        ["id", "nhs_number", "patient_ref", "system", "code", "date"],
        [["proc-1", NHS[2], "pat-3", "snomed", "73761001", "2022-05-05"]],
    )
    result = ingest([src], tmp_path / "wh")
    assert [e["code"] for e in result.report["errors"]] == ["invalid_value"]


@pytest.fixture(scope="module")
def synthea(tmp_path_factory):
    wh = tmp_path_factory.mktemp("synthea") / "wh"
    result = ingest([SYNTHEA], wh)
    assert result.ok, result.report["errors"]
    return result, contents(wh)


def test_synthea_patients_load_with_pseudonyms_and_flags(synthea):
    result, data = synthea
    pseudo = Pseudonymiser()
    assert len(data["patients"]) == 3
    for p in data["patients"]:
        assert p["patient_id"] == pseudo.local_id(LOCAL_ID_SOURCE, p["id"])
        assert p["dq_flags"] == "no_nhs_number"
    assert result.report["data_quality"] == {
        "no_nhs_number": 3, "organisation_without_ods_code": 3,
    }  # fmt: skip
    deceased = [p for p in data["patients"] if p["death_date"]]
    assert [d["death_date"].isoformat() for d in deceased] == ["2023-02-14"]


def test_synthea_unsupported_types_are_skipped(synthea):
    result, _ = synthea
    assert set(result.report["skipped_types"]) == {
        "Claim", "ExplanationOfBenefit", "Immunization", "Location", "Medication", "Provenance",
    }  # fmt: skip


def test_synthea_encounter_classes_and_providers(synthea):
    _, data = synthea
    orgs = {o["name"]: o for o in data["organisations"]}
    assert orgs["PCP120584"]["kind"] == "practice"
    assert orgs["MASSACHUSETTS GENERAL HOSPITAL"]["kind"] == "trust"
    kinds: dict[tuple[str, str], int] = {}
    by_org = {o["org_id"]: o["name"] for o in data["organisations"]}
    for e in data["encounters"]:
        key = (by_org[e["org_id"]], e["kind"])
        kinds[key] = kinds.get(key, 0) + 1
    assert kinds == {
        ("PCP120584", "gp_appointment"): 3,  # AMB at a primary care provider
        ("CAMBRIDGE URGENT CARE", "outpatient"): 1,  # AMB elsewhere
        ("MASSACHUSETTS GENERAL HOSPITAL", "ae_attendance"): 2,  # EMER
        ("MASSACHUSETTS GENERAL HOSPITAL", "elective_admission"): 2,  # IMP, no priority
    }


def test_synthea_clinical_codes(synthea):
    _, data = synthea
    assert {c["system"] for c in data["conditions"]} == {"snomed"}
    assert {o["system"] for o in data["observations"]} == {"loinc"}
    assert {m["system"] for m in data["medications"]} == {"rxnorm"}
    # The metformin request is coded through a Medication resource (medicationReference).
    assert "860975" in {m["code"] for m in data["medications"]}
    bp = sorted(
        (o["id"][-2:], o["code"], o["value"])
        for o in data["observations"]
        if o["code"] in ("8462-4", "8480-6")
    )  # two panels, one row per component
    assert bp == [
        ("-0", "8462-4", 72.0),
        ("-0", "8462-4", 84.0),
        ("-1", "8480-6", 118.0),
        ("-1", "8480-6", 138.0),
    ]
    smoking = [o for o in data["observations"] if o["code"] == "72166-2"]
    assert smoking[0]["value"] is None  # a coded answer has no numeric value


def test_synthea_roles_resolve_conditional_references(synthea):
    _, data = synthea
    practitioners = {p["id"]: p["name"] for p in data["practitioners"]}
    assert sorted(practitioners.values()) == ["Dr. Ana972 Velásquez115", "Dr. Toby274 Kshlerin58"]
    orgs = {o["org_id"]: o["name"] for o in data["organisations"]}
    roles = {
        orgs[r["org_id"]]: practitioners[r["practitioner_id"]] for r in data["practitioner_roles"]
    }
    assert roles["PCP120584"] == "Dr. Toby274 Kshlerin58"


def test_synthea_provider_files_first_then_patients(tmp_path, synthea):
    """Organisations referenced by identifier resolve against an earlier batch."""
    wh = tmp_path / "wh"
    providers = sorted(SYNTHEA.glob("*Information*.json"))
    patients = sorted(p for p in SYNTHEA.glob("*.json") if p not in providers)
    assert ingest(providers, wh).ok
    second = ingest(patients, wh)
    assert second.ok, second.report["errors"]
    _, together = synthea
    drop = ("batch",)
    assert contents(wh, drop) == {
        name: [{k: v for k, v in row.items() if k not in drop} for row in rows]
        for name, rows in together.items()
    }
