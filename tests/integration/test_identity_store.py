"""The direct-care identity store: fed by FHIR Patient and patients.csv through ingest, on the
warehouse's own transaction, version and opt-out rules, and never visible to analytics."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ingest_data import NHS, NOW, locality, patient, write_csv, write_ndjson

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse import paths
from wraparound.warehouse.check import readable
from wraparound.warehouse.engine import DirectCareTableError, connect
from wraparound.warehouse.identity import read_identity
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import DIRECT_CARE
from wraparound.warehouse.store import Warehouse

VERIFICATION_EXT = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SRC = Path(__file__).parents[2] / "src" / "wraparound"


def ingest(paths_, wh):
    result = run_ingest(paths_, wh, progress=False, now=NOW)
    assert result.ok, result.report["errors"][:3]
    return result


def identities(wh) -> dict[str, dict]:
    return {r["id"]: r for r in read_identity(wh).to_pylist()}


def uk_core_patient(**kw) -> dict:
    """pat-1 as a UK Core Patient: an old and an official name, telecom, two addresses, a
    verified NHS number and the GP practice named by its ODS code."""
    res = patient("pat-1", NHS[0], "1950-04-02", sex="female", **kw)
    res["identifier"][0]["extension"] = [
        {
            "url": VERIFICATION_EXT,
            "valueCodeableConcept": {"coding": [{"code": "01", "display": "verified"}]},
        }
    ]
    res["name"] = [
        {"use": "old", "family": "Smith", "given": ["Mary"]},
        {"use": "official", "family": "Jones", "given": ["Mary", "Ann"]},
    ]
    res["telecom"] = [
        {"system": "phone", "value": "01632 960000", "use": "old"},
        {"system": "phone", "value": "07700 900123", "use": "mobile"},
        {"system": "email", "value": "mary.jones@example.org"},
    ]
    res["address"] = [
        {"use": "work", "postalCode": "LS1 4AP"},
        {"use": "home", "postalCode": "LS6 2AB", "extension": res["address"][0]["extension"]},
    ]
    res["generalPractitioner"] = [
        {"reference": "Practitioner/prac-1"},
        {"identifier": {"system": ODS, "value": "P81001"}},
    ]
    return res


def with_patient(resources: list[dict], replacement: dict) -> list[dict]:
    return [replacement if r["id"] == replacement["id"] else r for r in resources]


def test_a_fhir_patient_gives_every_identity_field(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    ingest([write_ndjson(tmp_path / "in", with_patient(locality(), uk_core_patient()))], wh)
    got = identities(wh)
    assert set(got) == {"pat-1", "pat-2", "pat-3"}
    row = got["pat-1"]
    assert {k: row[k] for k in row if k not in ("updated_at", "version_id", "batch")} == {
        "id": "pat-1",
        "patient_id": Pseudonymiser().nhs_number(NHS[0]),
        "nhs_number": NHS[0],
        "nhs_number_verification": "01",
        "given_name": "Mary Ann",
        "family_name": "Jones",
        "birth_date": row["birth_date"],
        "sex": "female",
        "postcode": "LS6 2AB",
        "phone": "07700 900123",
        "email": "mary.jones@example.org",
        "practice_id": "P81001",
        "opted_out": False,
    }
    assert str(row["birth_date"]) == "1950-04-02"
    # Opted out of secondary uses, still a patient for direct care.
    assert got["pat-2"]["opted_out"] is True and got["pat-2"]["nhs_number"] == NHS[1]
    # The same pseudonym keys the patient in the analytics tables.
    patients = {r["id"]: r["patient_id"] for r in wh.read("patients").to_pylist()}
    assert {i: r["patient_id"] for i, r in got.items()} == patients


def test_analytics_cannot_read_the_identity_table(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    ingest([write_ndjson(tmp_path / "in", locality())], wh)
    with connect(wh) as engine:
        for name in DIRECT_CARE:
            with pytest.raises(DirectCareTableError, match="direct care only"):
                engine.table(name)
        patients = engine.to_arrow(engine.table("patients"))
    assert "nhs_number" not in patients.column_names
    assert "given_name" not in patients.column_names
    # Nothing under analytics/ reads identity, or the writers' door to it.
    for path in (SRC / "analytics").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
        }
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "stored" not in names and "read_identity" not in names, path
        assert "wraparound.warehouse.identity" not in imported, path


def test_identity_follows_the_version_rules(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    first = uk_core_patient(updated="2025-01-01T00:00:00Z", version=1)
    ingest([write_ndjson(tmp_path / "a", with_patient(locality(), first))], wh)
    before = identities(wh)

    # The same data again: nothing changes, not even the batch that wrote the row.
    again = ingest([write_ndjson(tmp_path / "a2", with_patient(locality(), first))], wh)
    assert again.report["tables"]["identity"]["unchanged"] == 3
    assert identities(wh) == before

    # A newer version (a change of name and phone) replaces the row.
    newer = uk_core_patient(updated="2025-06-01T00:00:00Z", version=2)
    newer["name"] = [{"use": "official", "family": "Brown", "given": ["Mary"]}]
    newer["telecom"] = [{"system": "phone", "value": "07700 900999"}]
    ingest([write_ndjson(tmp_path / "b", [newer])], wh)
    row = identities(wh)["pat-1"]
    assert (row["family_name"], row["phone"], row["email"]) == ("Brown", "07700 900999", None)
    assert row["batch"] == wh.manifest.batch

    # An older version arriving late is ignored.
    older = uk_core_patient(updated="2024-01-01T00:00:00Z", version=0)
    ingest([write_ndjson(tmp_path / "c", [older])], wh)
    assert identities(wh)["pat-1"]["family_name"] == "Brown"


def test_a_rejected_batch_writes_no_identity_either(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    ingest([write_ndjson(tmp_path / "a", locality())], wh)
    before = identities(wh)
    renamed = uk_core_patient(updated="2030-01-01T00:00:00Z")
    bad = patient("pat-9", "9434765918", "1970-01-01")  # fails the Modulus 11 check
    result = run_ingest([write_ndjson(tmp_path / "b", [renamed, bad])], wh, progress=False, now=NOW)
    assert not result.ok
    assert identities(wh) == before


def test_patients_csv_carries_identity_columns(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    folder = tmp_path / "extract"
    write_csv(
        folder / "organisations.csv",
        ["id", "org_id", "name", "kind", "parent_id"],
        [["org-p1", "P81001", "Riverside Surgery", "practice", None]],
    )
    write_csv(
        folder / "patients.csv",
        [
            "id", "nhs_number", "birth_date", "sex", "ethnicity", "lsoa", "death_date",
            "opted_out", "given_name", "family_name", "postcode", "phone", "email",
            "practice_id", "nhs_number_verification",
        ],
        [
            ["p1", NHS[0], "1950-04-02", "female", "A", None, None, "false", "Mary",
             "Jones", "LS6 2AB", "07700 900123", "m@example.org", "P81001", "01"],
            ["p2", NHS[1], "1988-11-30", "male", None, None, None, "true", "Tom",
             "Reid", None, None, None, None, None],
        ],
    )  # fmt: skip
    ingest([folder], wh)
    got = identities(wh)
    assert got["p1"]["given_name"] == "Mary" and got["p1"]["practice_id"] == "P81001"
    assert got["p1"]["nhs_number_verification"] == "01"
    assert got["p1"]["postcode"] == "LS6 2AB" and got["p1"]["email"] == "m@example.org"
    assert got["p2"]["opted_out"] is True and got["p2"]["phone"] is None
    assert got["p2"]["nhs_number"] == NHS[1]


def test_csv_identity_errors_are_reported_and_load_nothing(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    folder = tmp_path / "extract"
    write_csv(
        folder / "patients.csv",
        ["id", "nhs_number", "birth_date", "sex", "ethnicity", "lsoa", "death_date",
         "opted_out", "nhs_number_verification", "practice_id"],
        [["p1", NHS[0], "1950-04-02", "female", None, None, None, None, "99", None],
         ["p2", NHS[1], "1950-04-02", "female", None, None, None, None, None, "NOPE1"]],
    )  # fmt: skip
    write_csv(folder / "identity.csv", ["id"], [["p1"]])
    result = run_ingest([folder], wh, progress=False, now=NOW)
    assert not result.ok and not wh.exists()
    reasons = {(Path(e["file"]).name, e["position"], e["code"]) for e in result.report["errors"]}
    assert ("patients.csv", "line 2", "invalid_value") in reasons
    assert ("patients.csv", "line 3", "dangling_reference") in reasons
    assert ("identity.csv", "file", "unknown_table") in reasons
    message = next(e["reason"] for e in result.report["errors"] if e["code"] == "unknown_table")
    assert "identity columns go in patients.csv" in message


def test_a_warehouse_from_before_the_identity_table_still_reads(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    ingest([write_ndjson(tmp_path / "a", locality())], wh)
    snapshot = wh.manifest.snapshot
    paths.table_file(wh.root, snapshot, "identity").unlink()  # as an older release wrote it
    readable(wh.root)
    assert read_identity(wh).num_rows == 0
    # The next load of the patients writes their identity.
    ingest([write_ndjson(tmp_path / "b", locality())], wh)
    assert set(identities(wh)) == {"pat-1", "pat-2", "pat-3"}
